import CZlib
import Foundation

/// Reads a file, or stdin for `-`, one line at a time without holding the whole input.
/// Input that starts with the gzip magic number is decompressed on the fly (concatenated gzip
/// members included), so `events.jsonl.gz` and `zcat`-free pipes both work.
final class LineReader {
    /// A line without its terminator (`\n` or `\r\n`), or the fact that it exceeded the limit.
    enum Line {
        case text([UInt8])
        case tooLong
    }

    private let descriptor: Int32
    private let ownsDescriptor: Bool
    private let maximumLineBytes: Int
    private var inflater: Inflater?
    private var sniffed = false
    private var finished = false
    private var pending: [UInt8] = []
    private var pendingStart = 0
    private var skippingLongLine = false
    private var raw = [UInt8](repeating: 0, count: 1 << 16)

    /// Bytes read from the input so far (compressed bytes for gzip input), for progress.
    private(set) var bytesRead = 0

    init(path: String, maximumLineBytes: Int) throws {
        self.maximumLineBytes = maximumLineBytes
        if path == "-" {
            descriptor = STDIN_FILENO
            ownsDescriptor = false
        } else {
            descriptor = open(path, O_RDONLY)
            guard descriptor >= 0 else {
                throw CLIError.input("cannot open \(path): \(String(cString: strerror(errno)))")
            }
            ownsDescriptor = true
        }
    }

    deinit {
        if ownsDescriptor { close(descriptor) }
    }

    /// A line handed back by `pushBack`, returned by the next `next()`.
    private var pushedBack: Line?

    /// Makes `line` (just read) the next one `next()` returns, so a caller can look at the first
    /// line of stdin and still import it.
    func pushBack(_ line: Line) {
        pushedBack = line
    }

    /// The next line, or nil at the end of the input.
    func next() throws -> Line? {
        if let line = pushedBack {
            pushedBack = nil
            return line
        }
        while true {
            if let newline = pending[pendingStart...].firstIndex(of: UInt8(ascii: "\n")) {
                var end = newline
                if end > pendingStart, pending[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                let range = pendingStart..<end
                pendingStart = newline + 1
                // A line is too long whether it outgrew the buffer (skippingLongLine) or arrived whole in one read.
                if skippingLongLine || range.count > maximumLineBytes {
                    skippingLongLine = false
                    return .tooLong
                }
                return .text(Array(pending[range]))
            }
            if pending.count - pendingStart > maximumLineBytes {
                // Drop what we have of the overlong line and keep reading to its end.
                pending.removeAll(keepingCapacity: true)
                pendingStart = 0
                skippingLongLine = true
            }
            if finished {
                guard pendingStart < pending.count || skippingLongLine else { return nil }
                defer {
                    pending.removeAll()
                    pendingStart = 0
                    skippingLongLine = false
                }
                let rest = pending[pendingStart...]
                return skippingLongLine || rest.count > maximumLineBytes ? .tooLong : .text(Array(rest))
            }
            try fill()
        }
    }

    /// Reads the next block of input into `pending`, decompressing when needed.
    private func fill() throws {
        if pendingStart > 0 {
            pending.removeFirst(pendingStart)
            pendingStart = 0
        }
        let count = raw.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR { return }
            throw CLIError.input("cannot read input: \(String(cString: strerror(errno)))")
        }
        if count == 0 {
            if let inflater, !inflater.isAtMemberBoundary {
                throw CLIError.input("gzip input ends in the middle of a stream")
            }
            finished = true
            return
        }
        bytesRead += count
        if !sniffed {
            sniffed = true
            if count >= 2, raw[0] == 0x1F, raw[1] == 0x8B { inflater = try Inflater() }
        }
        if let inflater {
            try inflater.inflate(raw[0..<count], into: &pending)
        } else {
            pending.append(contentsOf: raw[0..<count])
        }
    }
}

/// Streaming gzip decompression with zlib.
private final class Inflater {
    private var stream = z_stream()
    private var output = [UInt8](repeating: 0, count: 1 << 16)
    /// True between gzip members, where the input may legitimately end.
    private(set) var isAtMemberBoundary = true

    init() throws {
        // 15 window bits + 16: expect a gzip header.
        guard CZlib_inflateInit2(&stream, 15 + 16) == Z_OK else { throw CLIError.input("cannot start gzip decompression") }
    }

    deinit {
        inflateEnd(&stream)
    }

    func inflate(_ input: ArraySlice<UInt8>, into result: inout [UInt8]) throws {
        var input = Array(input)
        try input.withUnsafeMutableBufferPointer { inputBuffer in
            stream.next_in = inputBuffer.baseAddress
            stream.avail_in = uInt(inputBuffer.count)
            while stream.avail_in > 0 {
                isAtMemberBoundary = false
                let status = output.withUnsafeMutableBufferPointer { outputBuffer -> Int32 in
                    stream.next_out = outputBuffer.baseAddress
                    stream.avail_out = uInt(outputBuffer.count)
                    let status = CZlib.inflate(&stream, Z_NO_FLUSH)
                    result.append(contentsOf: outputBuffer[0..<(outputBuffer.count - Int(stream.avail_out))])
                    return status
                }
                switch status {
                case Z_OK, Z_BUF_ERROR:
                    continue
                case Z_STREAM_END:
                    // Another gzip member may follow (files made with `cat a.gz b.gz`).
                    isAtMemberBoundary = true
                    guard inflateReset(&stream) == Z_OK else { throw CLIError.input("cannot continue gzip decompression") }
                default:
                    throw CLIError.input("corrupt gzip input")
                }
            }
        }
    }
}
