import ArchiveModel
import Foundation

/// A value as SQLite stores it, in its five storage classes: what the write path binds and what
/// readers return.
public enum SQLValue: Sendable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    init(_ text: String?) {
        self = text.map { .text($0) } ?? .null
    }

    init(_ integer: Int64?) {
        self = integer.map { .integer($0) } ?? .null
    }

    /// Timestamps are stored as ISO 8601 text with milliseconds, so they sort as text.
    init(_ time: Timestamp?) {
        self = time.map { .text($0.iso8601) } ?? .null
    }
}

/// Equal when SQLite would store the same value: text compares by its UTF-8 bytes, not by
/// Swift's Unicode equivalence (`"é"` precomposed and decomposed are two values to SQLite, and
/// two groups to `GROUP BY`).
extension SQLValue: Hashable {
    public static func == (lhs: SQLValue, rhs: SQLValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.integer(let left), .integer(let right)): left == right
        case (.real(let left), .real(let right)): left == right
        case (.blob(let left), .blob(let right)): left == right
        case (.text(var left), .text(var right)):
            left.withUTF8 { left in
                right.withUTF8 { right in
                    left.count == right.count && (left.isEmpty || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0)
                }
            }
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null:
            hasher.combine(0)
        case .integer(let integer):
            hasher.combine(1)
            hasher.combine(integer)
        case .real(let double):
            hasher.combine(2)
            hasher.combine(double)
        case .text(var text):
            hasher.combine(3)
            text.withUTF8 { bytes in
                hasher.combine(bytes.count)
                hasher.combine(bytes: UnsafeRawBufferPointer(bytes))
            }
        case .blob(let bytes):
            hasher.combine(4)
            hasher.combine(bytes)
        }
    }
}
