import ArchiveTestSupport
import Testing

@testable import ArchiveServer

@Suite struct SignatureVerifierTests {
    /// CircleCI's published examples (webhooks guide, "Validate outbound webhooks").
    @Test(arguments: [
        ("hello world", "secret", "734cc62f32841568f45715aeb9f4d7891324e6d948e4c6c60c0621cdac48623a"),
        ("foo", "secret", "773ba44693c7553d6ee20f61ea5d2757a9a4f4a44d2841ae4e95b52e4cd62db4"),
        ("lalala", "another-secret", "daa220016c8f29a8b214fbfc3671aeec2145cfb1e6790184ffb38b6d0425fa00"),
        ("an-important-request-payload", "hunter123", "9be2242094a9a8c00c64306f382a7f9d691de910b4a266f67bd314ef18ac49fa"),
    ])
    func acceptsCircleCIsPublishedVectors(body: String, secret: String, mac: String) {
        let verifier = SignatureVerifier(secrets: [secret])
        #expect(verifier.isAuthentic(body: Array(body.utf8), headerValues: ["v1=\(mac)"]))
        #expect(verifier.isAuthentic(body: Array(body.utf8), headerValues: ["v1=\(mac.uppercased())"]))
        #expect(!verifier.isAuthentic(body: Array((body + " ").utf8), headerValues: ["v1=\(mac)"]))
        #expect(!SignatureVerifier(secrets: [secret + "x"]).isAuthentic(body: Array(body.utf8), headerValues: ["v1=\(mac)"]))
        #expect(signature(for: body, secret: secret) == "v1=\(mac)")
    }

    @Test func anyConfiguredSecretMaySign() {
        let verifier = SignatureVerifier(secrets: ["old", "new"])
        for secret in ["old", "new"] {
            #expect(verifier.isAuthentic(body: Array("payload".utf8), headerValues: [signature(for: "payload", secret: secret)]))
        }
        #expect(!verifier.isAuthentic(body: Array("payload".utf8), headerValues: [signature(for: "payload", secret: "other")]))
    }

    @Test func onlyV1EntriesCountAndAnyOfThemMayMatch() {
        let verifier = SignatureVerifier(secrets: ["secret"])
        let good = "734cc62f32841568f45715aeb9f4d7891324e6d948e4c6c60c0621cdac48623a"
        let body = Array("hello world".utf8)
        #expect(verifier.isAuthentic(body: body, headerValues: ["v1=\(good),v2=abc,v3=..."]))
        #expect(verifier.isAuthentic(body: body, headerValues: ["v0=zzz, v1=\(good)"]))
        #expect(verifier.isAuthentic(body: body, headerValues: ["v1=\(String(repeating: "0", count: 64)),v1=\(good)"]))
        #expect(!verifier.isAuthentic(body: body, headerValues: ["v2=\(good)"]), "an unknown version is ignored, not trusted")
        #expect(!verifier.isAuthentic(body: body, headerValues: ["V1=\(good)"]))
        #expect(!verifier.isAuthentic(body: body, headerValues: ["\(good)"]))
    }

    @Test(arguments: [
        [], [""], ["v1="], ["v1=not-a-valid-signature"], ["v1=734cc62f"], ["v1=734cc62f32841568f45715aeb9f4d7891324e6d948e4c6c60c0621cdac48623"],
        ["v1=734cc62f32841568f45715aeb9f4d7891324e6d948e4c6c60c0621cdac48623a00"],
        ["v1=734cc62f32841568f45715aeb9f4d7891324e6d948e4c6c60c0621cdac4862zz"],
        // A repeated header is refused even when one copy is right.
        [
            "v1=734cc62f32841568f45715aeb9f4d7891324e6d948e4c6c60c0621cdac48623a",
            "v1=734cc62f32841568f45715aeb9f4d7891324e6d948e4c6c60c0621cdac48623a",
        ],
    ])
    func refusesMissingMalformedAndRepeatedHeaders(headers: [String]) {
        #expect(!SignatureVerifier(secrets: ["secret"]).isAuthentic(body: Array("hello world".utf8), headerValues: headers))
    }

    /// The reply is the same 401 for all; the operator's log says which of these it was.
    @Test func eachRefusalHasItsReason() {
        let verifier = SignatureVerifier(secrets: ["secret"])
        let body = Array("hello world".utf8)
        let good = "v1=734cc62f32841568f45715aeb9f4d7891324e6d948e4c6c60c0621cdac48623a"
        let cases: [([String], SignatureVerifier.Refusal?)] = [
            ([good], nil), ([], .missing), ([good, good], .repeated), ([""], .noVersion1), (["v2=abc"], .noVersion1),
            (["v1=zz"], .malformed), (["v1=" + String(repeating: "0", count: 64)], .noMatch),
            ([signature(for: body, secret: "another")], .noMatch),
        ]
        for (headers, expected) in cases {
            #expect(verifier.refusal(body: body, headerValues: headers) == expected, "\(headers)")
        }
    }
}
