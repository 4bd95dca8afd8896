namespace Control.Daemon;

/// <summary>How the data path moves packets (<c>--io</c>).</summary>
internal enum IoMode
{
    /// <summary>One read/send per packet, like flannel's proxy. The only mode so far.</summary>
    PerPacket,
}
