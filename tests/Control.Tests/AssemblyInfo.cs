// Control is Linux-only (SupportedOSPlatform("linux")); so are its tests.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
