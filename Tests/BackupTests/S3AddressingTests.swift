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

    @Test func ipEndpointsAndNonDNSBucketsUsePathStyle() {
        // As the AWS SDKs: a bucket cannot prefix an IP address, nor can a name that is not a DNS label.
        let ip = client(endpoint: "http://127.0.0.1:9000", pathStyle: false).address(key: "k")
        #expect(ip.hostHeader == "127.0.0.1:9000")
        #expect(ip.path == "/my-bucket/k")
        #expect(client(endpoint: "http://[::1]:9000", pathStyle: false).address(key: "k").path == "/my-bucket/k")
        for bucket in ["My_Bucket", "ab", "-bucket", "192.168.1.1"] {
            let c = S3Client(
                config: S3Config(
                    accessKeyID: "k", secretAccessKey: "s", endpoint: "https://s3.example.com", bucket: bucket, path: "k"))
            #expect(c.address(key: "k").host == "s3.example.com", "\(bucket)")
        }
        // Dots in the bucket would break the certificate match of an https virtual host.
        let dotted = S3Client(
            config: S3Config(accessKeyID: "k", secretAccessKey: "s", endpoint: "https://s3.example.com", bucket: "a.b.c", path: "k"))
        #expect(dotted.address(key: "k").path == "/a.b.c/k")
    }

    @Test func environmentEndpointOnlyWhenTheFileNamesNone() {
        let fromEnvironment = S3Client(
            config: S3Config(
                accessKeyID: "k", secretAccessKey: "s", region: "us-west-2", bucket: "b-1", path: "p",
                environmentEndpoint: "http://127.0.0.1:5000"))
        #expect(fromEnvironment.endpoint == S3Endpoint(scheme: "http", host: "127.0.0.1", port: 5000))
        let fileWins = S3Client(
            config: S3Config(
                accessKeyID: "k", secretAccessKey: "s", endpoint: "https://minio.example:9000", bucket: "b-1", path: "p",
                environmentEndpoint: "http://127.0.0.1:5000"))
        #expect(fileWins.endpoint == S3Endpoint(scheme: "https", host: "minio.example", port: 9000))
    }

    @Test func destinationsAreNamedAsRqliteNamesThem() {
        func destination(_ endpoint: String, _ environmentEndpoint: String = "") -> String {
            S3Storage(
                config: S3Config(
                    accessKeyID: "k", secretAccessKey: "s", endpoint: endpoint, bucket: "bkt", path: "dir/db.gz",
                    environmentEndpoint: environmentEndpoint)
            ).destination
        }
        #expect(destination("") == "s3://bkt/dir/db.gz")
        #expect(destination("", "http://127.0.0.1:5000") == "s3://bkt/dir/db.gz")  // the file names no endpoint
        #expect(destination("https://s3.eu-west-1.amazonaws.com") == "s3://bkt/dir/db.gz")
        #expect(destination("http://127.0.0.1:9000") == "http://127.0.0.1:9000/bkt/dir/db.gz")
    }

    @Test func noEndpointMeansAWSInTheRegion() {
        let c = client(endpoint: "", pathStyle: false, region: "eu-west-1")
        #expect(c.endpoint == S3Endpoint(scheme: "https", host: "s3.eu-west-1.amazonaws.com", port: 443))
        #expect(c.address(key: "k").host == "my-bucket.s3.eu-west-1.amazonaws.com")
    }
}
