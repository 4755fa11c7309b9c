using System.Net.Sockets;

namespace Detach.Milter;

/// <summary>
/// A TCP stream that acknowledges what it read at once instead of after Linux's delayed-ACK timer (40 ms at least).
/// </summary>
/// <remarks>
/// With the SMFIP_NR_* options agreed, the MTA sends connect, MAIL, RCPT and every header without waiting for an
/// answer, each as its own small write. Where the MTA's socket keeps Nagle's algorithm on, its next small write waits
/// until the previous one is acknowledged, and a filter that has nothing to answer acknowledges only when its
/// delayed-ACK timer fires. Through Postfix the host's delayed ACKs halved with this stream in a plain-mail run
/// (BENCHMARKS.md, issue 17). TCP_QUICKACK is not sticky (the kernel goes back to delayed ACKs on its own), so it is
/// set again after every read; setting it also sends an ACK that is pending. One setsockopt per read.
/// </remarks>
internal sealed class QuickAckStream(Socket socket) : NetworkStream(socket, ownsSocket: true)
{
    private const int TcpQuickAck = 12; // TCP_QUICKACK in <netinet/tcp.h>: Linux only

    private static readonly bool Supported = OperatingSystem.IsLinux();

    private static readonly byte[] On = BitConverter.GetBytes(1);

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int read = await base.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        if (read > 0 && Supported)
        {
            try
            {
                Socket.SetRawSocketOption((int)SocketOptionLevel.Tcp, TcpQuickAck, On);
            }
            catch (SocketException)
            {
                // The peer is gone or the option is refused: the next read tells which; a late ACK is only slower.
            }
        }

        return read;
    }
}
