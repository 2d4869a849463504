#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What reading one line produced.
enum LineInput {
    case line(String)
    /// Ctrl-C: the line (and any statement being accumulated) is abandoned.
    case interrupt
    /// Ctrl-D on an empty line, or end of input.
    case end
}

/// Reads lines from standard input: on a terminal with editing (termios raw mode: arrows, Home/End,
/// backspace/delete, Ctrl-A/B/E/F/K/U/W/L/C/D, history with up/down and Ctrl-P/N), otherwise plain lines.
final class LineEditor {
    let interactive: Bool
    private(set) var history: [String] = []
    private let historyPath: String?
    private let historyLimit: Int
    private var pending: [UInt8] = []
    private var atEnd = false
    /// Where prompts and the line being edited are drawn: standard output, or standard error when only that
    /// is the terminal (`raftlite > results.txt`).
    let terminalFD: Int32 = isatty(1) == 1 ? 1 : (isatty(2) == 1 ? 2 : 1)

    init(interactive: Bool, historyPath: String?, historyLimit: Int) {
        self.interactive = interactive
        self.historyPath = historyPath
        self.historyLimit = historyLimit
        if interactive { loadHistory() }
    }

    // MARK: History

    private func loadHistory() {
        guard let historyPath, historyLimit > 0, let data = readWholeFile(historyPath) else { return }
        history = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
            .filter { !$0.trimmingSpaces.isEmpty }
        if history.count > historyLimit { history.removeFirst(history.count - historyLimit) }
    }

    /// Adds a line to the history and rewrites the history file (the last `historyLimit` lines, contiguous
    /// duplicates dropped); a limit of 0 deletes the file.
    func remember(_ line: String) {
        guard interactive else { return }
        let trimmed = line.trimmingSpaces
        if !trimmed.isEmpty && history.last != line { history.append(line) }
        if history.count > max(historyLimit, 1000) { history.removeFirst(history.count - max(historyLimit, 1000)) }
        saveHistory()
    }

    func saveHistory() {
        guard let historyPath else { return }
        if historyLimit <= 0 {
            unlink(historyPath)
            return
        }
        let lines = history.suffix(historyLimit)
        let text = lines.joined(separator: "\n") + (lines.isEmpty ? "" : "\n")
        _ = writeWholeFile(historyPath, Array(text.utf8), mode: 0o600)
    }

    // MARK: Reading

    func readLine(prompt: String) -> LineInput {
        if interactive, let line = readEdited(prompt: prompt) { return line }
        return readPlain()
    }

    /// A line from a pipe or file, without its newline (a final unterminated line counts).
    private func readPlain() -> LineInput {
        while true {
            if let nl = pending.firstIndex(of: 10) {
                var line = Array(pending[..<nl])
                pending.removeSubrange(...nl)
                if line.last == 13 { line.removeLast() }
                return .line(String(decoding: line, as: UTF8.self))
            }
            if atEnd {
                if pending.isEmpty { return .end }
                let line = String(decoding: pending, as: UTF8.self)
                pending.removeAll()
                return .line(line)
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { atEnd = true } else { pending.append(contentsOf: chunk[0..<n]) }
        }
    }

    private func readByte() -> UInt8? {
        var b: UInt8 = 0
        while true {
            let n = read(0, &b, 1)
            if n == 1 { return b }
            if n < 0 && errno == EINTR { continue }
            return nil
        }
    }

    private func terminalWidth() -> Int {
        var ws = winsize()
        if ioctl(terminalFD, UInt(TIOCGWINSZ), &ws) == 0 && ws.ws_col > 0 { return Int(ws.ws_col) }
        return 80
    }

    private func out(_ s: String) {
        var bytes = Array(s.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { posixWrite(terminalFD, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }

    /// Reads a line in raw mode; nil when the terminal cannot be put in raw mode.
    private func readEdited(prompt: String) -> LineInput? {
        var original = termios()
        guard tcgetattr(0, &original) == 0 else { return nil }
        var raw = original
        raw.c_iflag &= ~tcflag_t(BRKINT | ICRNL | INPCK | ISTRIP | IXON)
        raw.c_lflag &= ~tcflag_t(ECHO | ICANON | IEXTEN | ISIG)
        raw.c_cflag |= tcflag_t(CS8)
        withUnsafeMutableBytes(of: &raw.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        guard tcsetattr(0, TCSANOW, &raw) == 0 else { return nil }  // TCSANOW keeps type-ahead
        defer { _ = tcsetattr(0, TCSADRAIN, &original) }

        var line: [Character] = []
        var cursor = 0
        // History navigation: index into history + [the line being edited].
        var entries = history + [""]
        var index = entries.count - 1
        let promptWidth = columnWidth(prompt)

        func refresh() {
            // One line, scrolled sideways so the cursor stays visible (columns counted with wide characters).
            let columns = terminalWidth()
            let widths = line.map(columnWidth)
            var start = 0
            var cursorColumn = promptWidth + widths[0..<cursor].reduce(0, +)
            while start < cursor && cursorColumn >= columns {
                cursorColumn -= widths[start]
                start += 1
            }
            var end = start
            var used = promptWidth
            while end < line.count && used + widths[end] <= columns {
                used += widths[end]
                end += 1
            }
            var s = "\r" + prompt + String(line[start..<end]) + "\u{1b}[0K\r"
            if cursorColumn > 0 { s += "\u{1b}[\(cursorColumn)C" }
            out(s)
        }
        func showEntry(_ i: Int) {
            entries[index] = String(line)
            index = i
            line = Array(entries[index])
            cursor = line.count
            refresh()
        }

        out(prompt)
        var utf8: [UInt8] = []
        while true {
            guard let byte = readByte() else {
                out("\r\n")
                return .end
            }
            if !utf8.isEmpty || byte >= 0x80 {
                // Gather a multi-byte UTF-8 character before inserting it.
                utf8.append(byte)
                let expected = utf8[0] >= 0xF0 ? 4 : utf8[0] >= 0xE0 ? 3 : utf8[0] >= 0xC0 ? 2 : 1
                if utf8.count < expected { continue }
                let text = String(decoding: utf8, as: UTF8.self)
                utf8.removeAll()
                for c in text {
                    line.insert(c, at: cursor)
                    cursor += 1
                }
                refresh()
                continue
            }
            switch byte {
            case 13, 10:  // Enter
                cursor = line.count
                refresh()
                out("\r\n")
                return .line(String(line))
            case 3:  // Ctrl-C
                out("^C\r\n")
                return .interrupt
            case 4:  // Ctrl-D: end on an empty line, else delete under the cursor
                if line.isEmpty {
                    out("\r\n")
                    return .end
                }
                if cursor < line.count {
                    line.remove(at: cursor)
                    refresh()
                }
            case 127, 8:  // Backspace
                if cursor > 0 {
                    cursor -= 1
                    line.remove(at: cursor)
                    refresh()
                }
            case 1:  // Ctrl-A
                cursor = 0
                refresh()
            case 5:  // Ctrl-E
                cursor = line.count
                refresh()
            case 2:  // Ctrl-B
                if cursor > 0 { cursor -= 1; refresh() }
            case 6:  // Ctrl-F
                if cursor < line.count { cursor += 1; refresh() }
            case 11:  // Ctrl-K: kill to end of line
                line.removeSubrange(cursor...)
                refresh()
            case 21:  // Ctrl-U: kill to start of line
                line.removeSubrange(..<cursor)
                cursor = 0
                refresh()
            case 23:  // Ctrl-W: delete the previous word
                var start = cursor
                while start > 0 && line[start - 1] == " " { start -= 1 }
                while start > 0 && line[start - 1] != " " { start -= 1 }
                line.removeSubrange(start..<cursor)
                cursor = start
                refresh()
            case 12:  // Ctrl-L: clear the screen
                out("\u{1b}[H\u{1b}[2J")
                refresh()
            case 16:  // Ctrl-P
                if index > 0 { showEntry(index - 1) }
            case 14:  // Ctrl-N
                if index < entries.count - 1 { showEntry(index + 1) }
            case 20:  // Ctrl-T: swap the characters before the cursor
                if cursor > 0 && line.count > 1 {
                    if cursor == line.count { cursor -= 1 }
                    line.swapAt(cursor - 1, cursor)
                    cursor += 1
                    refresh()
                }
            case 27:  // Escape sequences
                guard let b1 = readByte() else { continue }
                if b1 == UInt8(ascii: "[") {
                    var params: [UInt8] = []
                    var final: UInt8 = 0
                    while let b = readByte() {
                        if b >= 0x40 && b <= 0x7e {
                            final = b
                            break
                        }
                        params.append(b)
                    }
                    let p = String(decoding: params, as: UTF8.self)
                    let ctrl = p.hasSuffix(";5") || p.hasSuffix(";3")
                    switch final {
                    case UInt8(ascii: "A"): if index > 0 { showEntry(index - 1) }
                    case UInt8(ascii: "B"): if index < entries.count - 1 { showEntry(index + 1) }
                    case UInt8(ascii: "C"):
                        if ctrl { cursor = wordEnd(line, cursor) } else if cursor < line.count { cursor += 1 }
                        refresh()
                    case UInt8(ascii: "D"):
                        if ctrl { cursor = wordStart(line, cursor) } else if cursor > 0 { cursor -= 1 }
                        refresh()
                    case UInt8(ascii: "H"):
                        cursor = 0
                        refresh()
                    case UInt8(ascii: "F"):
                        cursor = line.count
                        refresh()
                    case UInt8(ascii: "~"):
                        switch p {
                        case "1", "7":
                            cursor = 0
                            refresh()
                        case "4", "8":
                            cursor = line.count
                            refresh()
                        case "3":
                            if cursor < line.count {
                                line.remove(at: cursor)
                                refresh()
                            }
                        default: break
                        }
                    default: break
                    }
                } else if b1 == UInt8(ascii: "O") {
                    switch readByte() {
                    case UInt8(ascii: "H"): cursor = 0
                    case UInt8(ascii: "F"): cursor = line.count
                    case UInt8(ascii: "A"): if index > 0 { showEntry(index - 1) }
                    case UInt8(ascii: "B"): if index < entries.count - 1 { showEntry(index + 1) }
                    case UInt8(ascii: "C"): if cursor < line.count { cursor += 1 }
                    case UInt8(ascii: "D"): if cursor > 0 { cursor -= 1 }
                    default: break
                    }
                    refresh()
                } else if b1 == UInt8(ascii: "b") {  // Alt-B
                    cursor = wordStart(line, cursor)
                    refresh()
                } else if b1 == UInt8(ascii: "f") {  // Alt-F
                    cursor = wordEnd(line, cursor)
                    refresh()
                }
            case 9:  // Tab: no completion; ignored
                break
            default:
                if byte >= 32 {
                    line.insert(Character(Unicode.Scalar(byte)), at: cursor)
                    cursor += 1
                    refresh()
                }
            }
        }
    }

    private func wordStart(_ line: [Character], _ cursor: Int) -> Int {
        var i = cursor
        while i > 0 && line[i - 1] == " " { i -= 1 }
        while i > 0 && line[i - 1] != " " { i -= 1 }
        return i
    }

    private func wordEnd(_ line: [Character], _ cursor: Int) -> Int {
        var i = cursor
        while i < line.count && line[i] == " " { i += 1 }
        while i < line.count && line[i] != " " { i += 1 }
        return i
    }
}

/// The whole content of a file, nil when it cannot be read.
func readWholeFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var data: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n < 0 { return nil }
        if n == 0 { return data }
        data.append(contentsOf: chunk[0..<n])
    }
}

/// Writes a file (truncating it); false on failure.
@discardableResult
func writeWholeFile(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) -> Bool {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return false }
        offset += n
    }
    return true
}
