using System.Runtime.InteropServices;

namespace Dataplane.Tun.Interop;

/// <summary>struct msghdr (sys/socket.h), 56 bytes on 64-bit Linux.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct MsgHdr
{
    public void* Name;
    public uint NameLength;
    public IOVector* Iov;
    public nuint IovLength;
    public void* Control;
    public nuint ControlLength;
    public int Flags;
}

/// <summary>struct cmsghdr (sys/socket.h) followed by an int payload: CMSG_SPACE(sizeof(int)) = 24 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct CmsgInt
{
    /// <summary>CMSG_LEN(sizeof(int)): header (16) + 4.</summary>
    public const int Length = 20;

    public nuint Len;
    public int Level;
    public int Type;
    public int Value;
    private int _pad;
}
