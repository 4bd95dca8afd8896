using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace Control.Commands;

/// <summary>Daemon logging: single-line, timestamped, all on stderr (as flanneld's klog); -v raises the level.</summary>
internal static class Logging
{
    /// <summary>A logger factory for verbosity <paramref name="verbosity"/>; dispose it to flush.</summary>
    public static ILoggerFactory Create(int verbosity, bool enabled)
    {
        if (!enabled)
            return NullLoggerFactory.Instance;
        var level = verbosity switch
        {
            <= 0 => LogLevel.Information,
            1 => LogLevel.Debug,
            _ => LogLevel.Trace,
        };
        return LoggerFactory.Create(builder => builder
            .SetMinimumLevel(level)
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
            .AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
                o.UseUtcTimestamp = true;
                o.ColorBehavior = LoggerColorBehavior.Disabled;
            }));
    }
}
