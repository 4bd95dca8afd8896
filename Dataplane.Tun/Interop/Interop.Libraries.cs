namespace Dataplane.Tun.Interop;

/// <summary>
/// Direct libc calls. One syscall per file (<c>Interop.&lt;Call&gt;.cs</c>), each a
/// <c>[LibraryImport(Libraries.Libc, SetLastError = true)]</c> with a blittable signature, plus a thin
/// safe wrapper where the caller would otherwise need a pointer. errno becomes an exception only in
/// <see cref="Errno"/>; the per-packet wrappers return errno instead of throwing.
/// </summary>
internal static partial class Libc
{
}

/// <summary>Native library names.</summary>
internal static class Libraries
{
    /// <summary>The C library; the runtime resolves "libc" to glibc's libc.so.6 on Linux.</summary>
    public const string Libc = "libc";
}
