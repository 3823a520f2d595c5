import ArchiveModel
import ArchiveStore

/// Random damage to real payloads, for fuzz tests of the parser, the normalizer and the routes:
/// fields of the wrong type, missing or null maps, huge and odd numbers, unusual Unicode, extra
/// fields, and raw byte damage (flips, cuts, insertions). Deterministic for a given seed.
public struct PayloadMutator {
    public var generator: SeededGenerator

    public init(seed: UInt64) {
        generator = SeededGenerator(seed: seed)
    }

    /// The payloads mutations start from: every shape of event the fixtures know.
    public static let seeds: [String] = [
        Fixtures.ping, Fixtures.workflowCompleted(), Fixtures.jobCompleted(), Fixtures.gitlabWorkflowCompleted,
        Fixtures.gitlabJobCompleted, Fixtures.githubAppJobCompleted, Fixtures.futureEvent,
    ]

    /// A damaged copy of one of the seeds, with a fresh event id most of the time so that the
    /// store sees new events and not only duplicates.
    public mutating func next() -> [UInt8] {
        let seed = Self.seeds.randomElement(using: &generator)!
        guard var document = try? JSONValue(parsing: Array(seed.utf8)) else { fatalError("fixture is not JSON") }
        if Int.random(in: 0..<10, using: &generator) < 9 {
            document = document.replacing(at: [.key("id")], with: .string("fuzz-\(generator.next())"))
        }
        if Int.random(in: 0..<10, using: &generator) < 7 {
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                document = mutate(document)
            }
            return Array(Self.render(document).utf8)
        }
        var bytes = Array(Self.render(document).utf8)
        for _ in 0..<Int.random(in: 1...3, using: &generator) {
            damage(&bytes)
        }
        return bytes
    }

    /// One structural change at a random place in the document.
    private mutating func mutate(_ document: JSONValue) -> JSONValue {
        let paths = document.paths()
        let path = paths.randomElement(using: &generator)!
        switch Int.random(in: 0..<4, using: &generator) {
        case 0: return document.removing(at: path)
        case 1: return document.replacing(at: path, with: .object(["unexpected": randomValue()]))
        case 2 where !path.isEmpty: return document.replacing(at: path + [.key("extra_\(generator.next() % 100)")], with: randomValue())
        default: return document.replacing(at: path, with: randomValue())
        }
    }

    private mutating func randomValue() -> JSONValue {
        let choices: [JSONValue] = [
            .null, .bool(true), .bool(false), .integer(0), .integer(-1), .integer(.max), .integer(.min),
            .double(1e308), .double(-0.0), .double(5e-324), .double(3.5),
            .string(""), .string(" "), .string("null"), .string("💥🧨"), .string("e\u{301}\u{301}\u{301}"),
            .string("\u{0}\u{1}\u{1F}"), .string("a\u{2028}b\u{2029}"), .string("\u{202E}gnp.exe"),
            .string("'; DROP TABLE events; --"), .string(String(repeating: "x", count: 5000)),
            .string("2024-13-45T99:99:99Z"), .string("2024-03-05T10:11:28Z"), .string("1970-01-01T00:00:00+14:00"),
            .string("9999-12-31T23:59:59.999999999Z"), .string(Self.hugeNumber), .array([]), .object([:]),
            .array([.null, .integer(1), .string("two")]), .object(["id": .integer(7)]),
        ]
        return choices.randomElement(using: &generator)!
    }

    /// Replaced after rendering by a number literal no 64-bit type holds.
    private static let hugeNumber = "<huge-number>"

    private mutating func damage(_ bytes: inout [UInt8]) {
        guard !bytes.isEmpty else {
            bytes = [UInt8.random(in: 0...255, using: &generator)]
            return
        }
        let at = Int.random(in: 0..<bytes.count, using: &generator)
        switch Int.random(in: 0..<5, using: &generator) {
        case 0: bytes[at] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &generator)
        case 1: bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...40, using: &generator)))
        case 2:
            bytes.insert(contentsOf: (0..<Int.random(in: 1...8, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }, at: at)
        case 3: bytes.removeSubrange(at...)
        default: bytes.insert(contentsOf: Array(#"\ud800"#.utf8), at: at)
        }
    }

    /// Compact JSON with sorted keys, so a seed always renders the same bytes.
    public static func render(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let flag): return flag ? "true" : "false"
        case .integer(let number): return String(number)
        case .double(let number): return JSONText.number(number)
        case .string(hugeNumber): return "123456789012345678901234567890e400"
        case .string(let text): return JSONText.quoted(text)
        case .array(let items): return "[" + items.map(render).joined(separator: ",") + "]"
        case .object(let members):
            return "{" + members.keys.sorted().map { JSONText.quoted($0) + ":" + render(members[$0]!) }.joined(separator: ",") + "}"
        }
    }
}

/// A step into a document: an object key or an array index.
private enum PathStep: Hashable {
    case key(String)
    case index(Int)
}

extension JSONValue {
    /// Every path to a value, the root included.
    fileprivate func paths(prefix: [PathStep] = []) -> [[PathStep]] {
        switch self {
        case .object(let members):
            return [prefix] + members.keys.sorted().flatMap { members[$0]!.paths(prefix: prefix + [.key($0)]) }
        case .array(let items):
            return [prefix] + items.indices.flatMap { items[$0].paths(prefix: prefix + [.index($0)]) }
        default:
            return [prefix]
        }
    }

    fileprivate func replacing(at path: [PathStep], with value: JSONValue) -> JSONValue {
        guard let step = path.first else { return value }
        let rest = Array(path.dropFirst())
        switch (self, step) {
        case (.object(var members), .key(let key)):
            members[key] = (members[key] ?? .null).replacing(at: rest, with: value)
            return .object(members)
        case (.array(var items), .index(let index)) where items.indices.contains(index):
            items[index] = items[index].replacing(at: rest, with: value)
            return .array(items)
        default:
            return self
        }
    }

    fileprivate func removing(at path: [PathStep]) -> JSONValue {
        guard let step = path.first else { return .null }
        let rest = Array(path.dropFirst())
        switch (self, step) {
        case (.object(var members), .key(let key)):
            if rest.isEmpty { members[key] = nil } else if let member = members[key] { members[key] = member.removing(at: rest) }
            return .object(members)
        case (.array(var items), .index(let index)) where items.indices.contains(index):
            if rest.isEmpty { items.remove(at: index) } else { items[index] = items[index].removing(at: rest) }
            return .array(items)
        default:
            return self
        }
    }
}
