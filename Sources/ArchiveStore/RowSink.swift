/// Receives a result set as it is read: the column names once, then each row. The CLI's printer
/// is one; reads never hold a whole result in memory on the caller's behalf.
public protocol RowSink {
    mutating func start(columns: [String]) throws
    mutating func write(_ row: [SQLValue]) throws
}

/// A sink that keeps everything, for small results and tests.
public struct RowCollector: RowSink, Sendable {
    public private(set) var columns: [String] = []
    public private(set) var rows: [[SQLValue]] = []

    public init() {}

    public mutating func start(columns: [String]) throws {
        self.columns = columns
    }

    public mutating func write(_ row: [SQLValue]) throws {
        rows.append(row)
    }
}
