// The daemon runs where flanneld runs: Linux only (flock'ed lease store, /proc/net/route, POSIX signals).
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
