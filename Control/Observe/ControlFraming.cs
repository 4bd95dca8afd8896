using System.Buffers;
using System.IO.Pipelines;

namespace Control.Observe;

/// <summary>
/// The control socket's framing: one JSON document per line (UTF-8, '\n' terminated; System.Text.Json never writes a
/// raw newline in compact output), read and written through System.IO.Pipelines.
/// </summary>
/// <remarks>A frame longer than <see cref="MaxFrame"/> or a stream that ends inside a frame is an error
/// (<see cref="InvalidDataException"/>): the peer is not speaking this protocol, and the connection is closed.</remarks>
internal static class ControlFraming
{
    /// <summary>Longest frame accepted (a status of thousands of peers fits easily).</summary>
    public const int MaxFrame = 4 << 20;

    /// <summary>
    /// Takes one complete frame off the front of <paramref name="buffer"/> (without its newline); false when no
    /// complete frame is buffered yet.
    /// </summary>
    /// <exception cref="InvalidDataException">No newline within <paramref name="maxFrame"/> bytes.</exception>
    public static bool TryReadFrame(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> frame, int maxFrame = MaxFrame)
    {
        var newline = buffer.PositionOf((byte)'\n');
        if (newline is null)
        {
            if (buffer.Length > maxFrame)
                throw new InvalidDataException($"control frame longer than {maxFrame} bytes");
            frame = default;
            return false;
        }
        frame = buffer.Slice(0, newline.Value);
        if (frame.Length > maxFrame)
            throw new InvalidDataException($"control frame longer than {maxFrame} bytes");
        buffer = buffer.Slice(buffer.GetPosition(1, newline.Value));
        return true;
    }

    /// <summary>Reads the next frame; null at a clean end of stream (between frames).</summary>
    /// <exception cref="InvalidDataException">A frame too long, or the stream ended inside one.</exception>
    public static async ValueTask<byte[]?> ReadFrameAsync(PipeReader reader, CancellationToken cancellationToken, int maxFrame = MaxFrame)
    {
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            bool found;
            byte[]? frame = null;
            try
            {
                found = TryReadFrame(ref buffer, out var slice, maxFrame);
                if (found)
                    frame = slice.ToArray();
            }
            catch (InvalidDataException)
            {
                reader.AdvanceTo(buffer.Start, buffer.End);
                throw;
            }
            if (found)
            {
                reader.AdvanceTo(buffer.Start);
                return frame;
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                if (buffer.Length == 0)
                    return null;
                throw new InvalidDataException("the control connection ended inside a frame");
            }
            if (result.IsCanceled)
                throw new OperationCanceledException(cancellationToken);
        }
    }

    /// <summary>Writes one frame (the payload must not contain a newline) and flushes it.</summary>
    public static async ValueTask WriteFrameAsync(PipeWriter writer, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        if (payload.Span.Contains((byte)'\n'))
            throw new ArgumentException("a control frame cannot contain a newline", nameof(payload));
        writer.Write(payload.Span);
        writer.Write("\n"u8);
        var flushed = await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (flushed.IsCompleted)
            throw new IOException("the control connection was closed by the other side");
    }
}
