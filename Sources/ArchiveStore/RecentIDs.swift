import Synchronization

/// The event ids this store committed most recently, so that a retried delivery is answered
/// `duplicate` without the writer and without a database read.
///
/// A miss proves nothing (the id may be older than the window, from before a restart, or from
/// another process's `import`): such a delivery goes to the writer, whose insert is the authority
/// on duplicates. So new events, the common case, cost no lookup in the database at all, and
/// retries, which CircleCI sends soon after the original, are answered from memory.
///
/// Only ids in CircleCI's form (a lowercase UUID) are kept, as 16 bytes each: a window of 2^18
/// ids takes about 12 MiB. Other ids always take the writer's path.
final class RecentIDs: Sendable {
    private struct State {
        var members: Set<UInt128>
        /// The window in insertion order, as a ring: `ring[next]` is the oldest once full.
        var ring: [UInt128] = []
        var next = 0
    }

    private let state: Mutex<State>
    let capacity: Int

    init(capacity: Int = 1 << 18) {
        precondition(capacity > 0)
        self.capacity = capacity
        state = Mutex(State(members: Set(minimumCapacity: capacity)))
    }

    func contains(_ id: String) -> Bool {
        guard let key = Self.key(id) else { return false }
        return state.withLock { $0.members.contains(key) }
    }

    /// Remembers committed ids, forgetting the oldest beyond `capacity`.
    func insert<Ids: Sequence<String>>(_ ids: Ids) {
        let keys = ids.compactMap(Self.key)
        guard !keys.isEmpty else { return }
        state.withLock { state in
            for key in keys where state.members.insert(key).inserted {
                if state.ring.count < capacity {
                    state.ring.append(key)
                } else {
                    state.members.remove(state.ring[state.next])
                    state.ring[state.next] = key
                    state.next = (state.next + 1) % capacity
                }
            }
        }
    }

    /// The 128 bits of a lowercase canonical UUID (`8-4-4-4-12` hex digits); nil for anything
    /// else, so that two different id strings never share a key.
    static func key(_ id: String) -> UInt128? {
        guard id.utf8.count == 36 else { return nil }
        var value: UInt128 = 0
        for (index, byte) in id.utf8.enumerated() {
            switch (index, byte) {
            case (8, UInt8(ascii: "-")), (13, UInt8(ascii: "-")), (18, UInt8(ascii: "-")), (23, UInt8(ascii: "-")):
                continue
            case (8, _), (13, _), (18, _), (23, _):
                return nil
            case (_, UInt8(ascii: "0")...UInt8(ascii: "9")):
                value = value << 4 | UInt128(byte - UInt8(ascii: "0"))
            case (_, UInt8(ascii: "a")...UInt8(ascii: "f")):
                value = value << 4 | UInt128(byte - UInt8(ascii: "a") + 10)
            default:
                return nil
            }
        }
        return value
    }
}
