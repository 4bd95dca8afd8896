using System.CommandLine;

namespace Control.Commands;

/// <summary>A <c>dataplane</c> verb whose flags follow Go's flag syntax.</summary>
internal interface IVerb
{
    /// <summary>The verb (run, leases).</summary>
    string Name { get; }

    /// <summary>Flags it accepts.</summary>
    IReadOnlyList<FlagSpec> Flags { get; }

    /// <summary>flanneld flags it rejects by name.</summary>
    IReadOnlyList<UnsupportedFlag> Unsupported { get; }

    /// <summary>Whether FLANNELD_* variables set its flags.</summary>
    bool ReadsEnvironment { get; }

    /// <summary>Builds the System.CommandLine command, with its action bound to <paramref name="context"/>.</summary>
    Command Build(CliContext context);

    /// <summary>
    /// True when the verb takes one action word before its flags (<c>dataplane lab up --nodes 3</c>); the word is
    /// passed through to System.CommandLine as a positional argument.
    /// </summary>
    bool TakesAction => false;
}
