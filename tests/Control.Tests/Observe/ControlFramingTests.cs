using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Control.Observe;

namespace Control.Tests.Observe;

/// <summary>The control socket's framing (newline-delimited JSON over System.IO.Pipelines) in memory.</summary>
public class ControlFramingTests
{
    [Test]
    public void Frames_split_across_writes_and_several_in_one_write_come_out_whole_and_in_order()
    {
        var pipe = new Pipe();
        var chunks = new[] { "{\"command\":\"sta", "tus\"}\n{\"comm", "and\":\"routes\"}\n{\"command\":\"drops\"}\n" };
        foreach (var c in chunks)
            pipe.Writer.Write(Encoding.UTF8.GetBytes(c));
        pipe.Writer.Complete();
        var frames = new List<string>();
        while (ControlFraming.ReadFrameAsync(pipe.Reader, CancellationToken.None).AsTask().GetAwaiter().GetResult() is { } f)
            frames.Add(Encoding.UTF8.GetString(f));
        Assert.That(frames, Is.EqualTo(new[] { "{\"command\":\"status\"}", "{\"command\":\"routes\"}", "{\"command\":\"drops\"}" }));
    }

    [Test]
    public void A_frame_over_the_limit_is_refused_even_before_its_newline()
    {
        var buffer = new ReadOnlySequence<byte>(new byte[100]);
        Assert.Throws<InvalidDataException>(() => ControlFraming.TryReadFrame(ref buffer, out _, maxFrame: 64));
        var pipe = new Pipe();
        pipe.Writer.Write(new byte[100]);
        pipe.Writer.Complete();
        Assert.ThrowsAsync<InvalidDataException>(async () => await ControlFraming.ReadFrameAsync(pipe.Reader, CancellationToken.None, maxFrame: 64));
    }

    [Test]
    public void A_stream_that_ends_inside_a_frame_is_an_error_and_a_clean_end_is_null()
    {
        var pipe = new Pipe();
        pipe.Writer.Write("{\"command\":"u8);
        pipe.Writer.Complete();
        Assert.ThrowsAsync<InvalidDataException>(async () => await ControlFraming.ReadFrameAsync(pipe.Reader, CancellationToken.None));
        var empty = new Pipe();
        empty.Writer.Complete();
        Assert.That(ControlFraming.ReadFrameAsync(empty.Reader, CancellationToken.None).AsTask().GetAwaiter().GetResult(), Is.Null);
    }

    [Test]
    public void Written_frames_end_in_one_newline_and_a_payload_with_a_newline_is_refused()
    {
        var pipe = new Pipe();
        ControlFraming.WriteFrameAsync(pipe.Writer, "{\"ok\":true}"u8.ToArray(), CancellationToken.None).AsTask().GetAwaiter().GetResult();
        pipe.Writer.Complete();
        var read = pipe.Reader.ReadAsync().AsTask().GetAwaiter().GetResult();
        Assert.That(Encoding.UTF8.GetString(read.Buffer.ToArray()), Is.EqualTo("{\"ok\":true}\n"));
        Assert.ThrowsAsync<ArgumentException>(async () => await ControlFraming.WriteFrameAsync(new Pipe().Writer, "a\nb"u8.ToArray(), CancellationToken.None));
    }
}
