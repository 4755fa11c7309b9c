using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Text;

namespace Detach.Milter.Tests;

/// <summary>
/// The MTA's side of a milter connection, written from the protocol description (not from the session's code):
/// builds command frames and reads reply frames, over any pipe pair.
/// </summary>
internal sealed class TestMta(PipeWriter toMilter, PipeReader fromMilter)
{
    /// <summary>What Postfix 3.7 offers with milter_protocol = 6.</summary>
    public const uint PostfixActions = 0x1FF;

    public const uint PostfixOptions = 0x1FFFFF;

    public static byte[] Frame(char code, params byte[][] parts)
    {
        var length = 1 + parts.Sum(p => p.Length);
        var frame = new byte[4 + length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)length);
        frame[4] = (byte)code;
        var at = 5;
        foreach (var part in parts)
        {
            part.CopyTo(frame, at);
            at += part.Length;
        }

        return frame;
    }

    public static byte[] Word(uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return bytes;
    }

    /// <summary>NUL-terminated strings.</summary>
    public static byte[] Strings(params string[] values) =>
        values.SelectMany(v => Encoding.UTF8.GetBytes(v).Append((byte)0)).ToArray();

    public static byte[] Negotiation(uint version = 6, uint actions = PostfixActions, uint options = PostfixOptions) =>
        Frame('O', Word(version), Word(actions), Word(options));

    public static byte[] Connect(string host, string address, ushort port = 25) =>
        Frame('C', Strings(host), [(byte)'4', (byte)(port >> 8), (byte)port], Strings(address));

    public static byte[] Macros(char command, params string[] pairs) => Frame('D', [(byte)command], Strings(pairs));

    public static byte[] Mail(string sender, params string[] arguments) => Frame('M', Strings([$"<{sender}>", .. arguments]));

    public static byte[] Recipient(string recipient) => Frame('R', Strings($"<{recipient}>"));

    public static byte[] Header(string name, string value) => Frame('L', Strings(name, value));

    public static byte[] Body(string text) => Frame('B', Encoding.UTF8.GetBytes(text));

    public static byte[] Command(char code) => Frame(code);

    public async Task SendAsync(params byte[][] frames)
    {
        foreach (var frame in frames)
        {
            await toMilter.WriteAsync(frame);
        }
    }

    /// <summary>Sends the bytes one at a time, flushing after each, so the session sees every possible split.</summary>
    public async Task TrickleAsync(byte[] bytes)
    {
        foreach (var b in bytes)
        {
            await toMilter.WriteAsync(new[] { b });
        }
    }

    public Task CloseAsync() => toMilter.CompleteAsync().AsTask();

    /// <summary>The next reply frame, or null when the milter closed the connection.</summary>
    public async Task<Reply?> ReadAsync(TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        while (true)
        {
            var result = await fromMilter.ReadAsync(cancel.Token);
            var buffer = result.Buffer;
            if (buffer.Length >= 4)
            {
                var header = new byte[4];
                buffer.Slice(0, 4).CopyTo(header);
                var length = BinaryPrimitives.ReadUInt32BigEndian(header);
                if (buffer.Length >= 4 + length)
                {
                    var frame = buffer.Slice(4, length).ToArray();
                    fromMilter.AdvanceTo(buffer.GetPosition(4 + length));
                    return new Reply((char)frame[0], frame[1..]);
                }
            }

            if (result.IsCompleted)
            {
                fromMilter.AdvanceTo(buffer.End);
                return null;
            }

            fromMilter.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>Replies until (and including) the first that is not a modification or progress.</summary>
    public async Task<List<Reply>> ReadUntilVerdictAsync(TimeSpan? timeout = null)
    {
        var replies = new List<Reply>();
        while (await ReadAsync(timeout) is { } reply)
        {
            replies.Add(reply);
            if (reply.Code is not ('b' or 'h' or 'i' or 'm' or 'p'))
            {
                break;
            }
        }

        return replies;
    }

    /// <summary>True when no reply is waiting (after a short wait for a wrong one).</summary>
    public async Task<bool> IsSilentAsync()
    {
        await Task.Delay(100);
        return !fromMilter.TryRead(out var result) || ConsumeNothing(result);
    }

    private bool ConsumeNothing(ReadResult result)
    {
        fromMilter.AdvanceTo(result.Buffer.Start);
        return result.Buffer.IsEmpty;
    }

    public sealed record Reply(char Code, byte[] Data)
    {
        public uint WordAt(int offset) => BinaryPrimitives.ReadUInt32BigEndian(Data.AsSpan(offset));

        /// <summary>The NUL-terminated strings after <paramref name="skip"/> bytes.</summary>
        public string[] StringsAfter(int skip) =>
            Encoding.UTF8.GetString(Data, skip, Data.Length - skip).TrimEnd('\0').Split('\0');

        public string Text => Encoding.UTF8.GetString(Data);
    }
}
