namespace Dataplane.Devices;

/// <summary>Outcome of one read, write, send or receive (of one packet or a batch). Never an exception on the packet path.</summary>
public enum IoStatus
{
    /// <summary>The packet moved.</summary>
    Ok,
    /// <summary>Nothing to read, or no room to write, and the caller asked not to wait (EAGAIN).</summary>
    WouldBlock,
    /// <summary>The object was disposed or its canceller fired: stop the loop.</summary>
    Closed,
    /// <summary>A received datagram was larger than the buffer; it was discarded, never passed on truncated.</summary>
    Truncated,
    /// <summary>The kernel refused this packet; <see cref="IoResult.Errno"/> says why. Count it and carry on.</summary>
    Error,
}
