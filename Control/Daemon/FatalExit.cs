using Microsoft.Extensions.Logging;

namespace Control.Daemon;

/// <summary>
/// How a data path's background thread (pump, watchdog) ends the process on a fatal condition: one line on stderr,
/// exit 1, no clean-up on purpose, so it leaves exactly what a clean stop and a SIGKILL leave (README, "what survives").
/// </summary>
internal static class FatalExit
{
    /// <summary>Logs <paramref name="message"/>, prints it on stderr and exits 1.</summary>
    public static void Exit(ILogger logger, string message)
    {
        logger.LogCritical("{Message}", message);
        Console.Error.WriteLine($"dataplane: {message}");
        Environment.Exit(ExitCodes.Failure);
    }
}
