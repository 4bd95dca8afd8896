using System.CommandLine;

namespace Control.Commands;

/// <summary>Builds System.CommandLine options from <see cref="FlagSpec"/>s (all canonicalised to --name=value first).</summary>
internal sealed class VerbOptions
{
    private readonly Dictionary<string, Option> _options = [];

    /// <summary>Creates one option per flag and adds them to <paramref name="command"/>.</summary>
    public VerbOptions(Command command, IReadOnlyList<FlagSpec> flags)
    {
        foreach (var flag in flags)
        {
            Option option = flag.Kind switch
            {
                FlagKind.Bool => new Option<bool>("--" + flag.Name) { Description = flag.Description },
                FlagKind.Repeated => new Option<string[]>("--" + flag.Name) { Description = flag.Description, HelpName = flag.HelpName },
                _ => new Option<string>("--" + flag.Name) { Description = flag.Description, HelpName = flag.HelpName },
            };
            if (flag.Name == "v")
                option.Aliases.Add("-v");
            _options[flag.Name] = option;
            command.Options.Add(option);
        }
    }

    /// <summary>A single-valued flag, or null when absent.</summary>
    public string? Value(ParseResult result, string name) => result.GetValue((Option<string>)_options[name]);

    /// <summary>A repeated flag's values, in order.</summary>
    public IReadOnlyList<string> Values(ParseResult result, string name) => result.GetValue((Option<string[]>)_options[name]) ?? [];

    /// <summary>A boolean flag.</summary>
    public bool Bool(ParseResult result, string name) => result.GetValue((Option<bool>)_options[name]);

    /// <summary>A boolean flag, or <paramref name="absent"/> when not given (for flags that default to true).</summary>
    public bool Bool(ParseResult result, string name, bool absent) =>
        result.GetResult(_options[name]) is not { Implicit: false } ? absent : result.GetValue((Option<bool>)_options[name]);
}
