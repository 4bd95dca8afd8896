namespace Control.Commands;

/// <summary>How a Go-style flag takes its value.</summary>
internal enum FlagKind
{
    /// <summary>Boolean: <c>-flag</c> means true, <c>-flag=false</c> sets it; never consumes the next argument.</summary>
    Bool,
    /// <summary>Takes one value: <c>-flag=x</c> or <c>-flag x</c>; the last occurrence wins.</summary>
    Value,
    /// <summary>Takes one value per occurrence; occurrences accumulate (flannel's <c>flagSlice</c>).</summary>
    Repeated,
}

/// <summary>A flag a verb accepts, in Go's flag syntax.</summary>
/// <param name="Name">Name without dashes (iface, ip-masq, v).</param>
/// <param name="Kind">Value shape.</param>
/// <param name="Description">Help text.</param>
/// <param name="HelpName">Placeholder for the value in help.</param>
internal sealed record FlagSpec(string Name, FlagKind Kind, string Description, string? HelpName = null)
{
    /// <summary>The <c>FLANNELD_&lt;UPPER_SNAKE&gt;</c> variable that sets this flag (flagutil.SetFlagsFromEnv).</summary>
    public string EnvironmentVariable => "FLANNELD_" + Name.ToUpperInvariant().Replace('-', '_');
}

/// <summary>A flanneld flag we know but do not implement: rejected by name, never silently ignored.</summary>
/// <param name="Name">flanneld's flag name.</param>
/// <param name="IsBool">Whether it is boolean.</param>
/// <param name="HarmlessValue">For a boolean, the value that asks for what we do anyway (accepted silently), e.g. --kube-subnet-mgr=false.</param>
/// <param name="Hint">What to do instead.</param>
internal sealed record UnsupportedFlag(string Name, bool IsBool, bool? HarmlessValue, string Hint)
{
    /// <summary>The environment variable form.</summary>
    public string EnvironmentVariable => "FLANNELD_" + Name.ToUpperInvariant().Replace('-', '_');
}
