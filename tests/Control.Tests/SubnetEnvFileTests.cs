using Control.SubnetEnv;

namespace Control.Tests;

/// <summary>subnet.env lives in a shared directory (/run/flannel): its temp file must not be a way to write elsewhere (issue 13 §3).</summary>
public class SubnetEnvFileTests
{
    [Test]
    public void A_symlink_planted_at_the_temp_name_is_not_followed_nor_removed()
    {
        using var dir = new TempDir();
        var victim = dir.Write("victim", "precious\n");
        var target = dir["run/subnet.env"];
        Directory.CreateDirectory(dir["run"]);
        // The attacker guesses the first temp name (as it could the old ".subnet.env.<pid>.tmp") and plants symlinks
        // there: one to an existing file, then (next name) a dangling one whose target we must not create.
        var planted = dir["run/.planted.tmp"];
        var dangling = dir["run/.dangling.tmp"];
        File.CreateSymbolicLink(planted, victim);
        File.CreateSymbolicLink(dangling, dir["created-by-us"]);
        var names = new Queue<string>([".planted.tmp", ".dangling.tmp", ".fresh.tmp"]);

        SubnetEnvFile.Write(target, "FLANNEL_NETWORK=10.244.0.0/16\n", _ => names.Dequeue());

        Assert.That(File.ReadAllText(victim), Is.EqualTo("precious\n"), "the symlink's target was written through");
        Assert.That(File.Exists(dir["created-by-us"]), Is.False, "a dangling symlink was followed and its target created");
        Assert.That(new FileInfo(planted).LinkTarget, Is.EqualTo(victim), "we delete only what we created");
        Assert.That(new FileInfo(dangling).LinkTarget, Is.Not.Null);
        Assert.That(File.ReadAllText(target), Is.EqualTo("FLANNEL_NETWORK=10.244.0.0/16\n"));
        Assert.That(new FileInfo(target).LinkTarget, Is.Null);
        Assert.That(File.Exists(dir["run/.fresh.tmp"]), Is.False, "the temp file was renamed into place");
        Assert.That(File.GetUnixFileMode(target), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead));
    }

    [Test]
    public void A_symlink_at_the_final_name_is_replaced_not_followed()
    {
        using var dir = new TempDir();
        var victim = dir.Write("victim", "precious\n");
        var target = dir["subnet.env"];
        File.CreateSymbolicLink(target, victim);
        SubnetEnvFile.Write(target, "FLANNEL_MTU=1472\n");
        Assert.That(File.ReadAllText(victim), Is.EqualTo("precious\n"));
        Assert.That(new FileInfo(target).LinkTarget, Is.Null);
        Assert.That(File.ReadAllText(target), Is.EqualTo("FLANNEL_MTU=1472\n"));
    }

    [Test]
    public void Writes_and_probes_leave_no_temp_file_behind()
    {
        using var dir = new TempDir();
        var target = dir["subnet.env"];
        for (int i = 0; i < 20; i++)
        {
            SubnetEnvFile.Write(target, $"n={i}\n");
            SubnetEnvFile.CheckWritable(target);
        }
        Assert.That(Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName), Is.EqualTo(new[] { "subnet.env" }));
    }
}
