namespace Control.Lab;

/// <summary>
/// Undoes <see cref="Lab.AttachPod"/> so that the same nodes can be re-attached under another network mode (the
/// benchmark switches modes on the same nodes): CNI DEL, the pod namespace, the node's <c>cni0</c> bridge (its MTU
/// belongs to the previous mode) and the IPAM state. Best effort and idempotent; needs the node's subnet.env for the
/// DEL, so call it before the mode's own teardown removes that file.
/// </summary>
internal static class PodDetach
{
    public static void Detach(LabLayout layout, int i)
    {
        var node = LabLayout.NodeNamespace(i);
        var pod = LabLayout.PodNamespace(i);
        CniAttach.Delete(node, pod, layout.SubnetFile(i), layout.IpamDir(i));
        LabShell.Try($"ip netns del {pod}");
        LabShell.Try($"ip -n {node} link del cni0");
        if (Directory.Exists(layout.IpamDir(i)))
            Directory.Delete(layout.IpamDir(i), recursive: true);
        if (File.Exists(layout.CniResult(i)))
                File.Delete(layout.CniResult(i));
    }
}
