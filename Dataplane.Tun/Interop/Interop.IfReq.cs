using System.Runtime.InteropServices;
using System.Text;

namespace Dataplane.Tun.Interop;

/// <summary>
/// struct ifreq (include/uapi/linux/if.h): a 16-byte name and a 24-byte union, of which TUN ioctls use
/// only <c>ifr_flags</c> (a short at offset 16). 40 bytes on 64-bit Linux.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 40)]
internal unsafe struct IfReq
{
    /// <summary>IFNAMSIZ, including the terminating NUL.</summary>
    public const int NameSize = 16;

    [FieldOffset(0)] public fixed byte Name[NameSize];
    [FieldOffset(16)] public short Flags;

    /// <summary>Sets the name (ASCII, at most 15 bytes; the caller validated it).</summary>
    public void SetName(string name)
    {
        fixed (byte* p = Name)
        {
            var span = new Span<byte>(p, NameSize);
            span.Clear();
            Encoding.ASCII.GetBytes(name, span[..(NameSize - 1)]);
        }
    }

    /// <summary>The NUL-terminated name.</summary>
    public string GetName()
    {
        fixed (byte* p = Name)
        {
            var span = new ReadOnlySpan<byte>(p, NameSize);
            int end = span.IndexOf((byte)0);
            return Encoding.ASCII.GetString(end < 0 ? span : span[..end]);
        }
    }
}
