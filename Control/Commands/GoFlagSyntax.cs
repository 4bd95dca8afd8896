using System.Globalization;

namespace Control.Commands;

/// <summary>
/// Rewrites a verb's arguments from Go's flag syntax into one canonical form (<c>--name=value</c>) before
/// System.CommandLine sees them, so that everything flanneld accepts works here too:
/// <c>-flag=x</c>, <c>-flag x</c>, <c>--flag=x</c>, <c>--flag x</c>, boolean <c>-flag</c> and
/// <c>--flag=true|false</c> (any strconv.ParseBool spelling), plus <c>FLANNELD_&lt;UPPER_SNAKE&gt;</c>
/// environment variables for flags not given on the command line. flanneld flags we do not implement are
/// rejected by name; unknown flags are rejected with a pointer to --help. All errors are usage errors (exit 2).
/// </summary>
internal static class GoFlagSyntax
{
    /// <summary>Normalises <paramref name="args"/> (the arguments after the verb).</summary>
    /// <param name="verb">The verb, for messages.</param>
    /// <param name="args">Arguments after the verb.</param>
    /// <param name="flags">Flags the verb accepts.</param>
    /// <param name="unsupported">flanneld flags to reject by name.</param>
    /// <param name="environment">Environment lookup, or null to ignore FLANNELD_* variables.</param>
    public static List<string> Normalize(string verb, IReadOnlyList<string> args, IReadOnlyList<FlagSpec> flags,
        IReadOnlyList<UnsupportedFlag> unsupported, Func<string, string?>? environment)
    {
        var result = new List<string>();
        var given = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg == "--")
            {
                if (i + 1 < args.Count)
                    throw ControlException.Usage($"dataplane {verb} takes no arguments, got '{args[i + 1]}'");
                break;
            }
            if (arg.Length < 2 || arg[0] != '-')
                throw ControlException.Usage($"dataplane {verb} takes no arguments, got '{arg}' (flags look like --name=value)");
            var body = arg.StartsWith("--", StringComparison.Ordinal) ? arg[2..] : arg[1..];
            int eq = body.IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? body : body[..eq];
            string? inline = eq < 0 ? null : body[(eq + 1)..];
            if (name is "h" or "help" or "?")
            {
                result.Add("--help");
                continue;
            }
            var spec = flags.FirstOrDefault(f => f.Name == name);
            if (spec is null)
            {
                var known = unsupported.FirstOrDefault(u => u.Name == name);
                if (known is not null)
                {
                    if (known.IsBool && known.HarmlessValue is bool harmless
                        && ParseBool(inline ?? "true", "--" + name) == harmless)
                        continue;
                    throw ControlException.Usage($"--{name} is not supported yet: {known.Hint}");
                }
                throw ControlException.Usage($"unknown flag {arg} for dataplane {verb} (see dataplane {verb} --help)");
            }
            given.Add(spec.Name);
            switch (spec.Kind)
            {
                case FlagKind.Bool:
                    result.Add($"--{spec.Name}={(ParseBool(inline ?? "true", "--" + spec.Name) ? "true" : "false")}");
                    break;
                case FlagKind.Value or FlagKind.Repeated:
                    if (inline is null)
                    {
                        // Go's -v is a level; a bare -v (last, or followed by another flag) means -v=1.
                        if (spec.Name == "v" && (i + 1 >= args.Count || !int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out _)))
                        {
                            inline = "1";
                        }
                        else
                        {
                            if (i + 1 >= args.Count)
                                throw ControlException.Usage($"flag needs an argument: --{spec.Name}");
                            inline = args[++i];
                        }
                    }
                    result.Add($"--{spec.Name}={inline}");
                    break;
            }
        }
        if (environment is not null)
            AddFromEnvironment(result, given, flags, unsupported, environment);
        return result;
    }

    /// <summary>Go's <c>strconv.ParseBool</c>.</summary>
    public static bool ParseBool(string text, string what) => text switch
    {
        "1" or "t" or "T" or "true" or "TRUE" or "True" => true,
        "0" or "f" or "F" or "false" or "FALSE" or "False" => false,
        _ => throw ControlException.Usage($"invalid boolean value \"{text}\" for {what}: use true or false"),
    };

    private static void AddFromEnvironment(List<string> result, HashSet<string> given, IReadOnlyList<FlagSpec> flags,
        IReadOnlyList<UnsupportedFlag> unsupported, Func<string, string?> environment)
    {
        foreach (var spec in flags)
        {
            if (given.Contains(spec.Name) || environment(spec.EnvironmentVariable) is not { } value)
                continue;
            result.Add(spec.Kind == FlagKind.Bool
                ? $"--{spec.Name}={(ParseBool(value, spec.EnvironmentVariable) ? "true" : "false")}"
                : $"--{spec.Name}={value}");
        }
        foreach (var u in unsupported)
        {
            if (environment(u.EnvironmentVariable) is not { } value)
                continue;
            if (u.IsBool && u.HarmlessValue is bool harmless && ParseBool(value, u.EnvironmentVariable) == harmless)
                continue;
            throw ControlException.Usage($"{u.EnvironmentVariable} sets --{u.Name}, which is not supported yet: {u.Hint}");
        }
    }
}
