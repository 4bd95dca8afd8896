namespace Control.Bench;

/// <summary>A benchmark option or prerequisite is wrong; the message names it (the verb prints it and exits non-zero).</summary>
internal class BenchException(string message) : Exception(message);
