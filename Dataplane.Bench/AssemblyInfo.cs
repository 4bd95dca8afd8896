// The lab benchmark drives Linux namespaces, TUN and netlink (as the daemon it measures): Linux only.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
