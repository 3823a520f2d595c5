import ArchiveModel
import ArchiveStore
import Testing

@Suite struct JSONTests {
    @Test func parsesEveryKindOfValue() throws {
        let value = try JSONValue(parsing: Array(#" {"a": [1, -2.5e3, true, false, null], "b": {"c": "d"}, "n": 9223372036854775807} "#.utf8))
        #expect(value["a"] == .array([.integer(1), .double(-2500), .bool(true), .bool(false), .null]))
        #expect(value["b"]?["c"]?.string == "d")
        #expect(value["n"]?.integer == Int64.max)
        #expect(value["missing"] == nil)
    }

    @Test func decodesEscapesAndUnicode() throws {
        let text = #"["a\"b\\c\/d\b\f\n\r\t", "\u00e9\u4e2d", "\ud83d\ude00", "ünïcødé 😀"]"#
        let value = try JSONValue(parsing: Array(text.utf8))
        #expect(value == .array([.string("a\"b\\c/d\u{08}\u{0C}\n\r\t"), .string("é中"), .string("😀"), .string("ünïcødé 😀")]))
    }

    @Test func integersTooLargeBecomeDoubles() throws {
        #expect(try JSONValue(parsing: Array("123456789012345678901234567890".utf8)) == .double(123_456_789_012_345_678_901_234_567_890))
        #expect(try JSONValue(parsing: Array("1e999".utf8)) == .double(.infinity))
        #expect(try JSONValue(parsing: Array("12.0".utf8)).integer == 12)
        #expect(try JSONValue(parsing: Array("12.5".utf8)).integer == nil)
    }

    @Test(arguments: [
        ("", "empty document"),
        ("   ", "no value"),
        ("{\"a\":1", "unexpected end of document"),
        ("{\"a\":1}x", "unexpected data after the value"),
        ("{\"a\":1,\"a\":2}", "duplicate key"),
        ("[1,]", "unexpected character"),
        ("{'a':1}", "expected a string key"),
        ("01", "unexpected data after the value"),
        ("-", "invalid number"),
        ("1.", "invalid number"),
        ("NaN", "unexpected character"),
        ("tru", "unexpected end of document"),
        ("nul1", "invalid literal"),
        ("\"a\tb\"", "control character in string"),
        ("\"\\x\"", "invalid escape"),
        ("\"\\ud83d\"", "unpaired surrogate"),
        ("\"\\ude00\"", "unpaired surrogate"),
        ("\"\\u12G4\"", "invalid \\u escape"),
        ("\"abc", "unterminated string"),
        ("\u{FEFF}{}", "unexpected character"),
    ])
    func rejectsMalformedDocumentsWithAReason(text: String, reason: String) {
        #expect {
            try JSONValue(parsing: Array(text.utf8))
        } throws: { error in
            (error as? JSONParseError)?.reason.contains(reason) == true
        }
    }

    @Test func refusesARepeatedKeyInObjectsOfAnySize() throws {
        // Small objects are checked by scanning, larger ones with a set of keys: both must refuse.
        for size in [2, 16, 17, 40] {
            let members = (0..<size).map { "\"k\($0)\":\($0)" } + ["\"k\(size / 2)\":0"]
            #expect(throws: JSONParseError.self) { try JSONValue(parsing: Array("{\(members.joined(separator: ","))}".utf8)) }
            let unique = (0..<size).map { "\"k\($0)\":\($0)" }
            #expect(try JSONValue(parsing: Array("{\(unique.joined(separator: ","))}".utf8))["k\(size - 1)"] == .integer(Int64(size - 1)))
        }
    }

    @Test func objectsCompareLikeJSONObjects() throws {
        let parsed = try JSONValue(parsing: Array(#"{"b": [1], "a": {"x": null}}"#.utf8))
        #expect(parsed == .object(["a": .object(["x": .null]), "b": .array([.integer(1)])]))
        #expect(parsed != .object(["a": .object(["x": .null])]))
        #expect(parsed != .object(["a": .object(["x": .null]), "b": .array([.integer(1)]), "c": .null]))
        var object: JSONObject = ["a": .integer(1), "b": .integer(2)]
        object["a"] = nil
        object["c"] = .integer(3)
        object["b"] = .integer(4)
        #expect(object.keys == ["b", "c"] && object["b"] == .integer(4))
    }

    @Test func rejectsInvalidUTF8() {
        for bytes: [UInt8] in [
            [0x22, 0xFF, 0x22], [0x22, 0xC3, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0x61, 0x5C, 0x6E, 0xC0, 0xAF, 0x22],
        ] {
            #expect(throws: JSONParseError.self) { try JSONValue(parsing: bytes) }
        }
    }

    @Test func refusesDeepNestingWithoutExhaustingTheStack() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect {
            try JSONValue(parsing: Array(deep.utf8))
        } throws: { error in
            (error as? JSONParseError)?.reason.contains("nesting deeper than") == true
        }
        let deepObjects = String(repeating: "{\"a\":", count: 10_000) + "1" + String(repeating: "}", count: 10_000)
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: Array(deepObjects.utf8)) }
        let allowed = String(repeating: "[", count: JSONValue.maximumDepth) + String(repeating: "]", count: JSONValue.maximumDepth)
        #expect(throws: Never.self) { try JSONValue(parsing: Array(allowed.utf8)) }
    }

    @Test func quotesStringsForJSONOutput() throws {
        let original = "a\"b\\c\n\r\t\u{01}\u{1F}é😀\u{2028}"
        let quoted = JSONText.quoted(original)
        #expect(quoted == #""a\"b\\c\n\r\t\u0001\u001fé😀\u2028""#)
        #expect(try JSONValue(parsing: Array(quoted.utf8)) == .string(original))
        #expect(JSONText.number(.infinity) == "null")
        #expect(JSONText.number(2.5) == "2.5")
    }

    /// Strings are bounded only by the body: a 4 MiB string, escapes and all, parses whole.
    @Test func longStringsAreBoundedOnlyByTheBody() throws {
        let long = String(repeating: "a", count: 4 << 20)
        #expect(try JSONValue(parsing: Array(("\"" + long + "\"").utf8)).string?.utf8.count == 4 << 20)
        let escaped = try JSONValue(parsing: Array(("{\"" + long + "\":\"\\n" + long + "\"}").utf8))
        #expect(escaped[long]?.string?.utf8.count == (4 << 20) + 1)
    }
}
