import Backup
import Foundation
import Testing

/// AWS's published Signature Version 4 examples: the generic test suite ("get-vanilla", "post-vanilla",
/// "get-vanilla-query-order-key-case") and the S3 API reference's GET/PUT object examples.
@Suite struct SigV4Tests {
    let suiteSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    let suiteHeaders = [("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")]

    @Test func getVanilla() {
        let canonical = SigV4.canonicalRequest(
            method: "GET", encodedPath: "/", query: "", headers: suiteHeaders, payloadHash: SigV4.emptyPayloadHash)
        #expect(
            canonical == """
                GET
                /

                host:example.amazonaws.com
                x-amz-date:20150830T123600Z

                host;x-amz-date
                e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
                """)
        let scope = SigV4.scope(date: "20150830T123600Z", region: "us-east-1", service: "service")
        let toSign = SigV4.stringToSign(amzDate: "20150830T123600Z", scope: scope, canonicalRequest: canonical)
        #expect(
            toSign == """
                AWS4-HMAC-SHA256
                20150830T123600Z
                20150830/us-east-1/service/aws4_request
                bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63
                """)
        #expect(
            SigV4.signature(
                secret: suiteSecret, amzDate: "20150830T123600Z", region: "us-east-1", service: "service",
                stringToSign: toSign) == "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
        #expect(
            SigV4.authorization(
                accessKeyID: "AKIDEXAMPLE", secret: suiteSecret, region: "us-east-1", service: "service",
                amzDate: "20150830T123600Z", method: "GET", encodedPath: "/", query: "", headers: suiteHeaders,
                payloadHash: SigV4.emptyPayloadHash)
                == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                + "SignedHeaders=host;x-amz-date, "
                + "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    }

    @Test func postVanilla() {
        let auth = SigV4.authorization(
            accessKeyID: "AKIDEXAMPLE", secret: suiteSecret, region: "us-east-1", service: "service",
            amzDate: "20150830T123600Z", method: "POST", encodedPath: "/", query: "", headers: suiteHeaders,
            payloadHash: SigV4.emptyPayloadHash)
        #expect(auth.hasSuffix("Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"))
    }

    @Test func getVanillaQueryOrderKeyCase() {
        let query = SigV4.canonicalQuery([("Param2", "value2"), ("Param1", "value1")])
        #expect(query == "Param1=value1&Param2=value2")
        let auth = SigV4.authorization(
            accessKeyID: "AKIDEXAMPLE", secret: suiteSecret, region: "us-east-1", service: "service",
            amzDate: "20150830T123600Z", method: "GET", encodedPath: "/", query: query, headers: suiteHeaders,
            payloadHash: SigV4.emptyPayloadHash)
        #expect(auth.hasSuffix("Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"))
    }

    let s3Secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

    @Test func s3GetObjectExample() {
        let headers = [
            ("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"),
            ("x-amz-content-sha256", SigV4.emptyPayloadHash), ("x-amz-date", "20130524T000000Z"),
        ]
        let canonical = SigV4.canonicalRequest(
            method: "GET", encodedPath: "/test.txt", query: "", headers: headers, payloadHash: SigV4.emptyPayloadHash)
        #expect(
            canonical == """
                GET
                /test.txt

                host:examplebucket.s3.amazonaws.com
                range:bytes=0-9
                x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
                x-amz-date:20130524T000000Z

                host;range;x-amz-content-sha256;x-amz-date
                e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
                """)
        let toSign = SigV4.stringToSign(
            amzDate: "20130524T000000Z", scope: "20130524/us-east-1/s3/aws4_request", canonicalRequest: canonical)
        #expect(
            toSign == """
                AWS4-HMAC-SHA256
                20130524T000000Z
                20130524/us-east-1/s3/aws4_request
                7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972
                """)
        #expect(
            SigV4.signature(
                secret: s3Secret, amzDate: "20130524T000000Z", region: "us-east-1", service: "s3", stringToSign: toSign)
                == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func s3PutObjectExampleWithEscapedKey() {
        let body = SigV4.sha256Hex(Array("Welcome to Amazon S3.".utf8))
        #expect(body == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let path = "/" + SigV4.uriEncode("test$file.text", keepSlash: true)
        #expect(path == "/test%24file.text")
        let headers = [
            ("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("Host", "examplebucket.s3.amazonaws.com"),
            ("x-amz-content-sha256", body), ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ]
        let canonical = SigV4.canonicalRequest(
            method: "PUT", encodedPath: path, query: "", headers: headers, payloadHash: body)
        let toSign = SigV4.stringToSign(
            amzDate: "20130524T000000Z", scope: "20130524/us-east-1/s3/aws4_request", canonicalRequest: canonical)
        #expect(toSign.hasSuffix("\n9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d"))
        let auth = SigV4.authorization(
            accessKeyID: "AKIAIOSFODNN7EXAMPLE", secret: s3Secret, region: "us-east-1", service: "s3",
            amzDate: "20130524T000000Z", method: "PUT", encodedPath: path, query: "", headers: headers,
            payloadHash: body)
        #expect(
            auth == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                + "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
                + "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    @Test func amzDateAndTimestampedKeys() {
        let date = Date(timeIntervalSince1970: 1_767_268_800)  // 2026-01-01T12:00:00Z
        #expect(SigV4.amzDate(date) == "20260101T120000Z")
        #expect(timestampedKey("backups/db.sqlite.gz", at: date) == "backups/20260101120000_db.sqlite.gz")
        #expect(timestampedKey("db.sqlite.gz", at: date) == "20260101120000_db.sqlite.gz")
    }

    @Test func endpointParsing() {
        #expect(S3Endpoint("http://127.0.0.1:9000") == S3Endpoint(scheme: "http", host: "127.0.0.1", port: 9000))
        #expect(S3Endpoint("https://s3.example.com/") == S3Endpoint(scheme: "https", host: "s3.example.com", port: 443))
        #expect(S3Endpoint("http://[::1]:81") == S3Endpoint(scheme: "http", host: "::1", port: 81))
        #expect(S3Endpoint("ftp://x") == nil)
        #expect(S3Endpoint("http://h:notaport") == nil)
    }
}
