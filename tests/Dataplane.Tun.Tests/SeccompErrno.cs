using System.Runtime.InteropServices;

namespace Dataplane.Tun.Tests;

/// <summary>
/// Makes the kernel fail one kind of system call with a chosen errno, on one thread only: a seccomp filter
/// (SECCOMP_RET_ERRNO, Documentation/userspace-api/seccomp_filter.rst) installed on a thread made for the purpose,
/// which ends with it. For errors this kernel no longer produces by itself but a kernel in the field may.
/// </summary>
internal static class SeccompErrno
{
    private const int PR_SET_NO_NEW_PRIVS = 38, PR_SET_SECCOMP = 22, SECCOMP_MODE_FILTER = 2;
    private const uint AUDIT_ARCH_X86_64 = 0xC000003E;
    private const int SYS_sendmmsg_x86_64 = 307;
    private const ushort LdAbsW = 0x20, JeqK = 0x15, RetK = 0x06; // BPF_LD|BPF_W|BPF_ABS, BPF_JMP|BPF_JEQ|BPF_K, BPF_RET|BPF_K
    private const uint RetAllow = 0x7FFF0000, RetErrno = 0x00050000;

    [DllImport("libc", SetLastError = true)]
    private static extern int prctl(int option, nint arg2, nint arg3, nint arg4, nint arg5);

    /// <summary>
    /// Runs <paramref name="action"/> on a new thread on which every <c>sendmmsg(fd, …, 1, …)</c> (one message) fails
    /// with <paramref name="errno"/>; other calls, other fds, other threads are untouched.
    /// </summary>
    public static T WithSendmmsgOfOneMessageFailing<T>(int fd, int errno, Func<T> action)
    {
        if (RuntimeInformation.ProcessArchitecture != Architecture.X64)
            Assert.Ignore("the seccomp filter is written for x86_64 system call numbers");
        // struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }, over struct seccomp_data { int nr; u32 arch; u64 ip; u64 args[6]; }.
        ulong[] program =
        [
            Insn(LdAbsW, 0, 0, 4),                          // 0: A = arch
            Insn(JeqK, 0, 7, AUDIT_ARCH_X86_64),            // 1: other arch → allow
            Insn(LdAbsW, 0, 0, 0),                          // 2: A = nr
            Insn(JeqK, 0, 5, SYS_sendmmsg_x86_64),          // 3: not sendmmsg → allow
            Insn(LdAbsW, 0, 0, 16),                         // 4: A = args[0] (low half: the fd)
            Insn(JeqK, 0, 3, (uint)fd),                     // 5: another fd → allow
            Insn(LdAbsW, 0, 0, 32),                         // 6: A = args[2] (low half: vlen)
            Insn(JeqK, 0, 1, 1),                            // 7: more than one message → allow
            Insn(RetK, 0, 0, RetErrno | (uint)errno),       // 8: fail with errno
            Insn(RetK, 0, 0, RetAllow),                     // 9
        ];
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            var filter = GCHandle.Alloc(program, GCHandleType.Pinned);
            // struct sock_fprog { unsigned short len; struct sock_filter *filter; }: 16 bytes with padding.
            var fprog = Marshal.AllocHGlobal(16);
            try
            {
                Marshal.WriteInt64(fprog, program.Length);
                Marshal.WriteIntPtr(fprog, 8, filter.AddrOfPinnedObject());
                if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, fprog, 0, 0) != 0)
                    throw new InvalidOperationException($"seccomp filter refused: errno {Marshal.GetLastPInvokeError()}");
                result = action();
            }
            catch (Exception e)
            {
                failure = e;
            }
            finally
            {
                Marshal.FreeHGlobal(fprog);
                filter.Free();
            }
        });
        thread.Start();
        thread.Join();
        if (failure is not null)
            throw new InvalidOperationException("on the filtered thread: " + failure.Message, failure);
        return result;
    }

    private static ulong Insn(ushort code, byte jt, byte jf, uint k) => code | (ulong)jt << 16 | (ulong)jf << 24 | (ulong)k << 32;
}
