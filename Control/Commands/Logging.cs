using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Control.Commands;

/// <summary>How log lines are written: klog's header format (flanneld's, the default) or one JSON object per line.</summary>
internal enum LogFormat
{
    /// <summary><c>Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg</c>, as klog (see <see cref="KlogLine"/>).</summary>
    Klog,

    /// <summary><c>{"ts":"…","level":"info","logger":"dataplane","msg":"…", fields…}</c>, one object per line.</summary>
    Json,
}

/// <summary>
/// Daemon logging: one line per entry, all on stderr (as flanneld's klog with its default --logtostderr), in klog's
/// header format or JSON (<c>--log-format</c>). Verbosity follows klog's <c>-v</c>: an entry at V(n) is written when
/// <c>-v</c> ≥ n. Information, warnings and errors are V(0) (klog's Info/Warning/Error); our Debug entries are V(1)
/// and Trace entries V(2).
/// </summary>
internal static class Logging
{
    /// <summary>Parses <c>--log-format</c>; throws a usage error naming the value.</summary>
    public static LogFormat ParseFormat(string? text) => text switch
    {
        null or "klog" or "text" => LogFormat.Klog,
        "json" => LogFormat.Json,
        _ => throw ControlException.Usage($"invalid --log-format '{text}': use klog (default) or json"),
    };

    /// <summary>The lowest level written at klog verbosity <paramref name="verbosity"/>.</summary>
    public static LogLevel MinimumLevel(int verbosity) => verbosity switch
    {
        <= 0 => LogLevel.Information,
        1 => LogLevel.Debug,
        _ => LogLevel.Trace,
    };

    /// <summary>
    /// A logger factory for verbosity <paramref name="verbosity"/> writing to <paramref name="output"/> (stderr when
    /// null); dispose it to flush.
    /// </summary>
    public static ILoggerFactory Create(int verbosity, bool enabled, LogFormat format = LogFormat.Klog, TextWriter? output = null)
    {
        if (!enabled)
            return NullLoggerFactory.Instance;
        return LoggerFactory.Create(builder => builder
            .SetMinimumLevel(MinimumLevel(verbosity))
            .AddProvider(new LineLoggerProvider(output ?? Console.Error, format, TimeProvider.System)));
    }
}

/// <summary>
/// Writes each entry as one line (klog or JSON) to one writer. Thread-safe: entries come from the lease loops, the
/// watchdog and the data path threads (never per packet: the packet path does not log), so a lock around the write
/// keeps lines whole; the line is built before the lock is taken.
/// </summary>
internal sealed class LineLoggerProvider(TextWriter output, LogFormat format, TimeProvider time) : ILoggerProvider
{
    private readonly Lock _gate = new();
    private readonly LogFormat _format = format;
    private readonly TimeProvider _time = time;

    /// <inheritdoc/>
    public ILogger CreateLogger(string categoryName) => new LineLogger(this, categoryName);

    /// <inheritdoc/>
    public void Dispose()
    {
        lock (_gate)
            output.Flush();
    }

    private void Write(string line)
    {
        lock (_gate)
        {
            output.Write(line);
            output.Flush();
        }
    }

    private sealed class LineLogger(LineLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
                return;
            var message = formatter(state, exception);
            var now = owner._time.GetUtcNow();
            owner.Write(owner._format == LogFormat.Json
                ? JsonLine.Format(now, logLevel, category, message, state as IReadOnlyList<KeyValuePair<string, object?>>, exception)
                : KlogLine.Format(now.ToLocalTime(), logLevel, category, message, exception));
        }
    }
}

/// <summary>
/// klog's text header, as <c>FormatHeaderPre</c> in kubernetes/klog's internal/buffer/buffer.go writes it:
/// <c>Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg</c>, where L is I, W, E or F; the time is local with microseconds;
/// "threadid" is the process id right-aligned in 7 columns (klog writes the pid there too: "TODO: should be TID").
/// file:line is where klog's caller sits; Microsoft.Extensions.Logging does not carry the call site and capturing a
/// stack per line is not worth it, so ours is the logger's component (the category, e.g. <c>dataplane.leases</c>)
/// with line 0, so that parsers expecting <c>name:digits]</c> still match. A message spanning several lines (an
/// exception's stack) is written as klog writes one: the header once, the text as it is.
/// </summary>
internal static class KlogLine
{
    /// <summary>klog's severity letter: Info (also our Debug/Trace, which are Info at V(1)/V(2)), Warning, Error, Fatal.</summary>
    public static char Severity(LogLevel level) => level switch
    {
        LogLevel.Warning => 'W',
        LogLevel.Error => 'E',
        LogLevel.Critical => 'F',
        _ => 'I',
    };

    /// <summary>One entry, ending in a newline.</summary>
    public static string Format(DateTimeOffset localTime, LogLevel level, string category, string message, Exception? exception)
    {
        var sb = new StringBuilder(64 + message.Length);
        sb.Append(Severity(level));
        sb.Append(localTime.ToString("MMdd HH:mm:ss.ffffff", CultureInfo.InvariantCulture));
        sb.Append(' ');
        sb.Append(Environment.ProcessId.ToString(CultureInfo.InvariantCulture).PadLeft(7));
        sb.Append(' ').Append(category).Append(":0] ").Append(message);
        if (exception is not null)
            sb.Append('\n').Append(exception);
        return sb.Append('\n').ToString();
    }
}

/// <summary>
/// One JSON object per line: <c>ts</c> (UTC, RFC 3339 with microseconds), <c>level</c> (trace, debug, info, warning,
/// error, fatal), <c>logger</c> (the component), <c>msg</c> (the rendered message), then the message's named fields
/// (<c>{Subnet}</c> → <c>"Subnet":"10.244.1.0/24"</c>; numbers and booleans as JSON numbers and booleans, everything
/// else as its string), and <c>error</c> with the exception text when there is one.
/// </summary>
internal static class JsonLine
{
    /// <summary>The level names used in <c>level</c>.</summary>
    public static string LevelName(LogLevel level) => level switch
    {
        LogLevel.Trace => "trace",
        LogLevel.Debug => "debug",
        LogLevel.Warning => "warning",
        LogLevel.Error => "error",
        LogLevel.Critical => "fatal",
        _ => "info",
    };

    /// <summary>One entry, ending in a newline.</summary>
    public static string Format(DateTimeOffset utc, LogLevel level, string category, string message,
        IReadOnlyList<KeyValuePair<string, object?>>? fields, Exception? exception)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("ts", utc.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture));
            json.WriteString("level", LevelName(level));
            json.WriteString("logger", category);
            json.WriteString("msg", message);
            string? template = fields?.FirstOrDefault(f => f.Key == "{OriginalFormat}").Value as string;
            foreach (var (key, value) in fields ?? [])
            {
                // "{OriginalFormat}" is the template itself; the reserved names must not be overwritten by a field; a
                // message that is one field alone ("{Warning}") is already msg.
                if (key is "{OriginalFormat}" or "ts" or "level" or "logger" or "msg" or "error" || template == "{" + key + "}")
                    continue;
                WriteValue(json, key, value);
            }
            if (exception is not null)
                json.WriteString("error", exception.ToString());
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length) + "\n";
    }

    private static void WriteValue(Utf8JsonWriter json, string key, object? value)
    {
        switch (value)
        {
            case null:
                json.WriteNull(key);
                break;
            case bool b:
                json.WriteBoolean(key, b);
                break;
            case int or long or uint or ushort or short or byte or sbyte:
                json.WriteNumber(key, Convert.ToInt64(value, CultureInfo.InvariantCulture));
                break;
            case ulong u:
                json.WriteNumber(key, u);
                break;
            case double or float or decimal:
                double d = Convert.ToDouble(value, CultureInfo.InvariantCulture);
                if (double.IsFinite(d))
                    json.WriteNumber(key, d);
                else
                    json.WriteString(key, d.ToString(CultureInfo.InvariantCulture));
                break;
            case IFormattable f:
                json.WriteString(key, f.ToString(null, CultureInfo.InvariantCulture));
                break;
            default:
                json.WriteString(key, value.ToString());
                break;
        }
    }
}
