import Common

/// A command-line parser with the syntax of Go's `flag` package, which rqlite's flags use:
/// `-flag`, `--flag`, `-flag=value`, `-flag value` (not for booleans, which take `-flag=false`),
/// parsing stops at the first non-flag argument or after `--`.
struct FlagSet {
    enum Kind {
        case bool, string, int, uint, duration
    }

    struct Flag {
        let name: String
        let kind: Kind
        let defaultValue: String
        let usage: String
    }

    enum ParseError: Error, Equatable {
        /// `-h` or `-help`: print usage, exit 0.
        case helpRequested
        /// Anything else: message, usage, exit 2 (as Go's flag.ExitOnError).
        case invalid(String)
    }

    private(set) var flags: [Flag] = []
    private var index: [String: Int] = [:]
    /// Values given on the command line, by flag name (the last occurrence wins, as in Go).
    private(set) var given: [String: String] = [:]
    /// Names in the order they were given.
    private(set) var givenOrder: [String] = []

    mutating func define(_ name: String, _ kind: Kind, _ defaultValue: String, _ usage: String) {
        precondition(index[name] == nil, "flag redefined: \(name)")
        index[name] = flags.count
        flags.append(Flag(name: name, kind: kind, defaultValue: defaultValue, usage: usage))
    }

    /// Parses the arguments (without the program name); returns the remaining positional arguments.
    mutating func parse(_ arguments: [String]) throws(ParseError) -> [String] {
        var rest = arguments[...]
        while let arg = rest.first {
            guard arg.count > 1, arg.hasPrefix("-") else { break }
            rest = rest.dropFirst()
            if arg == "--" { break }
            var name = Substring(arg.dropFirst(arg.hasPrefix("--") ? 2 : 1))
            guard !name.isEmpty, !name.hasPrefix("-"), !name.hasPrefix("=") else {
                throw .invalid("bad flag syntax: \(arg)")
            }
            var value: String?
            if let eq = name.firstIndex(of: "=") {
                value = String(name[name.index(after: eq)...])
                name = name[..<eq]
            }
            let key = String(name)
            guard let i = index[key] else {
                if key == "h" || key == "help" { throw .helpRequested }
                throw .invalid("flag provided but not defined: -\(key)")
            }
            let flag = flags[i]
            if flag.kind == .bool {
                let text = value ?? "true"
                guard Self.parseBool(text) != nil else {
                    throw .invalid("invalid boolean value \"\(text)\" for -\(key): parse error")
                }
                record(key, text)
                continue
            }
            if value == nil {
                guard let next = rest.first else { throw .invalid("flag needs an argument: -\(key)") }
                value = next
                rest = rest.dropFirst()
            }
            try validate(flag, value!)
            record(key, value!)
        }
        return Array(rest)
    }

    private mutating func record(_ name: String, _ value: String) {
        if given[name] == nil { givenOrder.append(name) }
        given[name] = value
    }

    private func validate(_ flag: Flag, _ value: String) throws(ParseError) {
        let ok: Bool
        switch flag.kind {
        case .bool, .string: ok = true
        case .int: ok = Int(value) != nil
        case .uint: ok = UInt64(value) != nil
        case .duration: ok = GoDuration.parseNanoseconds(value) != nil
        }
        guard ok else { throw .invalid("invalid value \"\(value)\" for flag -\(flag.name): parse error") }
    }

    static func parseBool(_ text: String) -> Bool? {
        switch text {
        case "1", "t", "T", "true", "TRUE", "True": return true
        case "0", "f", "F", "false", "FALSE", "False": return false
        default: return nil
        }
    }

    func isSet(_ name: String) -> Bool { given[name] != nil }

    func string(_ name: String) -> String {
        given[name] ?? flags[index[name]!].defaultValue
    }

    func bool(_ name: String) -> Bool { Self.parseBool(string(name)) ?? false }
    func int(_ name: String) -> Int { Int(string(name)) ?? 0 }
    func uint(_ name: String) -> UInt64 { UInt64(string(name)) ?? 0 }
    /// Seconds.
    func duration(_ name: String) -> Double { GoDuration.parseSeconds(string(name)) ?? 0 }

    /// Usage text in the style of Go's `flag.PrintDefaults`.
    func usage(program: String) -> String {
        var out = "Usage: \(program) [flags] <data directory>\n"
        for flag in flags.sorted(by: { $0.name < $1.name }) {
            let typeName: String
            switch flag.kind {
            case .bool: typeName = ""
            case .string: typeName = " string"
            case .int: typeName = " int"
            case .uint: typeName = " uint"
            case .duration: typeName = " duration"
            }
            out += "  -\(flag.name)\(typeName)\n    \t\(flag.usage)"
            let isZero = flag.defaultValue.isEmpty || flag.defaultValue == "false" || flag.defaultValue == "0"
            if !isZero {
                out += flag.kind == .string ? " (default \"\(flag.defaultValue)\")" : " (default \(flag.defaultValue))"
            }
            out += "\n"
        }
        return out
    }
}
