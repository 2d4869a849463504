import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Real disk faults for end-to-end tests: a small tmpfs that fills up (ENOSPC), and `strace` injecting
/// errors into a running process's system calls (EIO on fsync). Both need privileges (root, ptrace);
/// `tmpfsAvailable` / `straceAvailable` say whether this machine grants them, with the reason if not, so
/// tests are skipped with that message instead of passing without testing anything.
public enum DiskFaults {
    static func which(_ name: String) -> String? {
        for dir in ["/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
        return nil
    }

    // MARK: tmpfs

    /// Why a tmpfs cannot be mounted here, nil if it can (probed once by mounting one).
    public static let tmpfsUnavailableReason: String? = {
        guard getuid() == 0 else { return "mounting a tmpfs needs root" }
        let dir = makeTemporaryDirectory("raftlite-tmpfs-probe")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let mounted = runProgram("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir])
        guard mounted.status == 0 else { return "mount -t tmpfs is not permitted here: \(mounted.output)" }
        runProgram("/bin/umount", [dir])
        return nil
    }()
    public static var tmpfsAvailable: Bool { tmpfsUnavailableReason == nil }

    /// Mounts a tmpfs of `bytes` on the (existing, empty) directory `path`.
    public static func mountTmpfs(_ path: String, bytes: Int) throws {
        let r = runProgram("/bin/mount", ["-t", "tmpfs", "-o", "size=\(bytes)", "tmpfs", path])
        guard r.status == 0 else { throw ClusterError("mount tmpfs on \(path): \(r.output)") }
    }

    /// A new data directory `<temporary>/data` on a tmpfs of `bytes`; the node's log (`data.log`, beside
    /// it) stays off the small disk. `removeTmpfsDataDirectory` undoes it.
    public static func makeTmpfsDataDirectory(_ prefix: String, bytes: Int) throws -> String {
        let data = makeTemporaryDirectory(prefix) + "/data"
        do {
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: false)
            try mountTmpfs(data, bytes: bytes)
        } catch {
            try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: data).deletingLastPathComponent().path)
            throw error
        }
        return data
    }

    /// Unmounts a directory made by `makeTmpfsDataDirectory` and removes it with its temporary parent.
    public static func removeTmpfsDataDirectory(_ data: String) {
        unmount(data)
        try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: data).deletingLastPathComponent().path)
    }

    /// Resizes a mounted tmpfs in place; its files stay.
    public static func resizeTmpfs(_ path: String, bytes: Int) throws {
        let r = runProgram("/bin/mount", ["-o", "remount,size=\(bytes)", path])
        guard r.status == 0 else { throw ClusterError("remount \(path): \(r.output)") }
    }

    public static func unmount(_ path: String) {
        runProgram("/bin/umount", [path])
    }

    /// Free bytes on the file system holding `path`.
    public static func freeBytes(_ path: String) -> Int {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return 0 }
        return Int(s.f_bavail) * Int(s.f_frsize)
    }

    /// Fills the file system of `path` with a file at `path` until at most `leave` bytes are free.
    public static func fill(_ path: String, leaving leave: Int) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard fd >= 0 else { throw ClusterError("open \(path): \(errno)") }
        defer { close(fd) }
        let block = [UInt8](repeating: 0x5a, count: 64 << 10)
        var written = 0
        while freeBytes(path) > leave && written < 1 << 30 {
            let want = min(block.count, freeBytes(path) - leave)
            let n = block.withUnsafeBytes { write(fd, $0.baseAddress, want) }
            guard n > 0 else { break }
            written += n
        }
    }

    // MARK: strace

    /// Why `strace` cannot inject faults here, nil if it can.
    public static let straceUnavailableReason: String? = {
        guard which("strace") != nil else { return "strace is not installed (scripts/setup installs it)" }
        let scope = (try? String(contentsOfFile: "/proc/sys/kernel/yama/ptrace_scope", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "0"
        if scope == "3" { return "ptrace is disabled (kernel.yama.ptrace_scope = 3)" }
        if getuid() != 0 && scope != "0" { return "attaching strace to a running process needs root or kernel.yama.ptrace_scope = 0" }
        return nil
    }()
    public static var straceAvailable: Bool { straceUnavailableReason == nil }
}

/// `strace` attached to every thread of a running process, making the given system calls fail with an
/// errno (`strace -f -p PID -e inject=SYSCALL:error=ERRNO`). `detach()` (SIGTERM, by PID) lets the
/// process run on untouched.
///
/// strace is spawned here with an empty signal mask: test threads run with most signals blocked, a child
/// inherits that mask, and strace would then never see the SIGTERM that tells it to detach.
public final class FaultInjector {
    public let pid: pid_t
    private let output: String
    private var detached = false

    /// Attaches to `target` and waits until strace reports it attached. `syscalls` is a comma-separated
    /// list (`fdatasync`, `fsync,fdatasync`).
    public init(pid target: Int32, syscalls: String, errno: String, timeout: Double = 20) throws {
        output = makeTemporaryDirectory("raftlite-strace") + "/stderr"
        let strace = DiskFaults.which("strace") ?? "/usr/bin/strace"
        let arguments = [
            strace, "-f", "-p", String(target), "-o", "/dev/null", "-e", "trace=\(syscalls)", "-e", "inject=\(syscalls):error=\(errno)",
        ]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, strace, &actions, &attributes, &argv, environ)
        guard rc == 0 else { throw ClusterError("spawning strace: \(String(cString: strerror(rc)))") }
        pid = child
        guard eventually(timeout: timeout, { log.contains("attached") }) else {
            detach()
            throw ClusterError("strace did not attach to \(target): \(log)")
        }
    }

    public var log: String { (try? String(contentsOfFile: output, encoding: .utf8)) ?? "" }

    public func detach() {
        guard !detached else { return }
        detached = true
        kill(pid, SIGTERM)
        var status: Int32 = 0
        if !eventually(timeout: 10, { waitpid(pid, &status, WNOHANG) == pid }) {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
        }
        try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: output).deletingLastPathComponent().path)
    }

    deinit { detach() }
}
