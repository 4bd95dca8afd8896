using System.Runtime.CompilerServices;
using System.Runtime.Versioning;

// Every [LibraryImport] signature in Interop/ must be blittable: no hidden marshalling stubs, no
// per-call allocation, and a compile error instead of a silent copy if a signature drifts.
[assembly: DisableRuntimeMarshalling]

// TUN, rtnetlink, setns and the socket options used here are Linux-only.
[assembly: SupportedOSPlatform("linux")]
