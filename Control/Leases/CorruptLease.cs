using Dataplane.Packets;

namespace Control.Leases;

/// <summary>
/// A subnet entry whose value (or metadata) cannot be used. It still occupies its subnet, so nobody allocates
/// over it, but it produces no route. <paramref name="Owner"/> is the PublicIP recorded in its metadata, if
/// any, which lets a node recognise its own corrupt lease.
/// </summary>
/// <param name="Key">The key (file name) as found.</param>
/// <param name="Subnet">The subnet, when the key itself parsed.</param>
/// <param name="Problem">What is wrong, for the log.</param>
/// <param name="Owner">PublicIP of the holder according to the metadata, if known.</param>
internal sealed record CorruptLease(string Key, Ipv4Prefix? Subnet, string Problem, Ipv4Address? Owner);
