import Foundation
import Testing

@testable import Backup

@Suite struct S3AddressingTests {
    func client(endpoint: String, pathStyle: Bool, region: String = "us-east-1") -> S3Client {
        S3Client(
            config: S3Config(
                accessKeyID: "k", secretAccessKey: "s", endpoint: endpoint, region: region, bucket: "my-bucket",
                path: "p", forcePathStyle: pathStyle))
    }

    @Test func pathStyleKeepsTheEndpointHostAndPort() {
        let a = client(endpoint: "http://127.0.0.1:9000", pathStyle: true).address(key: "dir/my db$.gz")
        #expect(a.host == "127.0.0.1")
        #expect(a.hostHeader == "127.0.0.1:9000")
        #expect(a.path == "/my-bucket/dir/my%20db%24.gz")
        #expect(client(endpoint: "http://127.0.0.1:9000", pathStyle: true).address(key: "").path == "/my-bucket")
    }

    @Test func virtualHostStylePutsTheBucketInTheHost() {
        let a = client(endpoint: "https://s3.example.com", pathStyle: false).address(key: "backups/db.gz")
        #expect(a.host == "my-bucket.s3.example.com")
        #expect(a.hostHeader == "my-bucket.s3.example.com")
        #expect(a.path == "/backups/db.gz")
        let b = client(endpoint: "http://minio.local:9000", pathStyle: false).address(key: "k")
        #expect(b.hostHeader == "my-bucket.minio.local:9000")
    }

    @Test func noEndpointMeansAWSInTheRegion() {
        let c = client(endpoint: "", pathStyle: false, region: "eu-west-1")
        #expect(c.endpoint == S3Endpoint(scheme: "https", host: "s3.eu-west-1.amazonaws.com", port: 443))
        #expect(c.address(key: "k").host == "my-bucket.s3.eu-west-1.amazonaws.com")
    }
}
