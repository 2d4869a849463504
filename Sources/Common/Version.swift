/// Version information reported in `X-RQLITE-VERSION`, `/status` and `-version`.
public enum RaftliteVersion {
    /// The release version, in rqlite's `vMAJOR.MINOR.PATCH` form.
    public static let version = "v0.1.0"
    /// The commit the binary was built from; `unknown` unless the build injects it.
    public static let commit = "unknown"
}
