using Control.Config;

namespace Control.Daemon;

/// <summary>Creates the data path for a backend type and I/O mode; <see cref="TunDataPath.Factory"/> is the real one.</summary>
internal interface IDataPathFactory
{
    /// <summary>Creates (but does not start) a data path; throws <see cref="ControlException"/> when the combination is unsupported.</summary>
    IDataPath Create(BackendConfig backend, RunOptions options);
}
