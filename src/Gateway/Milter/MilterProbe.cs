using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using Detach.Milter;

namespace Detach.Gateway.Milter;

/// <summary>
/// For `detach check`: connects to Milter:Listen as Postfix would, offers protocol 6 with everything Postfix offers,
/// and reads the answer, so a milter that is down, or something else on that port, shows before mail does.
/// </summary>
public static class MilterProbe
{
    /// <summary>What Postfix 3.x offers: every action (SMFIF_*) and protocol option (SMFIP_*) of version 6.</summary>
    private const uint PostfixActions = 0x1FF;
    private const uint PostfixOptions = 0x1FFFFF;

    /// <summary>(true, what was agreed) or (false, why not).</summary>
    public static async Task<(bool Ok, string Detail)> ProbeAsync(string listen, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (!MilterEndPoint.TryParse(listen, out var endPoint, out var error))
        {
            return (false, error);
        }

        var name = MilterEndPoint.ToPostfix(endPoint!);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            using var socket = new Socket(endPoint!.AddressFamily, SocketType.Stream, endPoint is UnixDomainSocketEndPoint ? ProtocolType.Unspecified : ProtocolType.Tcp);
            await socket.ConnectAsync(endPoint, deadline.Token).ConfigureAwait(false);
            var offer = new ArrayBufferWriter<byte>();
            var words = new byte[12];
            BinaryPrimitives.WriteUInt32BigEndian(words, MilterNegotiation.Version);
            BinaryPrimitives.WriteUInt32BigEndian(words.AsSpan(4), PostfixActions);
            BinaryPrimitives.WriteUInt32BigEndian(words.AsSpan(8), PostfixOptions);
            MilterFrameWriter.Write(offer, (byte)MilterCommand.OptionNegotiation, words);
            await socket.SendAsync(offer.WrittenMemory, deadline.Token).ConfigureAwait(false);

            var buffer = new byte[4096];
            int read = 0;
            while (true)
            {
                int n = await socket.ReceiveAsync(buffer.AsMemory(read), deadline.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    return (false, $"{name} closed the connection without answering the option negotiation");
                }

                read += n;
                var status = MilterFrameReader.TryRead(new ReadOnlySequence<byte>(buffer, 0, read), buffer.Length, out var frame, out _, out _);
                if (status == MilterFrameStatus.Invalid || (status == MilterFrameStatus.Incomplete && read == buffer.Length))
                {
                    return (false, $"{name} does not speak the milter protocol");
                }

                if (status == MilterFrameStatus.Complete)
                {
                    if (frame.Code != (byte)MilterReply.OptionNegotiation || frame.Data.Length < 12)
                    {
                        return (false, $"{name} answered the option negotiation with '{(char)frame.Code}'");
                    }

                    var answer = frame.Data.Slice(0, 12).ToArray();
                    var actions = (MilterActions)BinaryPrimitives.ReadUInt32BigEndian(answer.AsSpan(4));
                    MilterFrameWriter.Write(offer, (byte)MilterCommand.Quit);
                    await socket.SendAsync(offer.WrittenMemory[^5..], deadline.Token).ConfigureAwait(false);
                    return (true, $"{name} answers the option negotiation (protocol {BinaryPrimitives.ReadUInt32BigEndian(answer)}, actions {actions})");
                }
            }
        }
        catch (Exception e) when (e is SocketException or IOException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return (false, $"{name}: {(e is OperationCanceledException ? "no answer within " + timeout.TotalSeconds + " s" : e.Message)}");
        }
    }
}
