using System.Net;
using System.Text;

namespace Detach.Smtp.Tests;

/// <summary>
/// SMTP smuggling (the end of data one server sees where another does not): nothing that any reading of RFC 5321 (lines
/// ending in CRLF, in LF, or in CR) takes for the end of data may leave detach inside a message. A bare LF becomes CRLF
/// on the way out, and in DATA every dot after a CR or an LF is stuffed.
/// </summary>
public class SmugglingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Sequences that some server or other has taken for the end of data.</summary>
    public static TheoryData<string> EndOfDataLookalikes => new()
    {
        "\n.\n", "\r\n.\n", "\n.\r\n", "\r.\r\n", "\r\n.\r", "\r.\r", "\r\n.\r\r\n", "\r\n.\0\r\n", "\n..\n",
    };

    /// <summary>A message carrying a whole second transaction after <paramref name="lookalike"/>.</summary>
    public static byte[] SmugglingMessage(string lookalike) => Encoding.ASCII.GetBytes(
        "Subject: first\r\n\r\nbody" + lookalike +
        "MAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n" +
        "tail\r\n");

    /// <summary>
    /// Where the most lenient server would see the data end: at the first line holding a lone dot, lines ending in CR,
    /// LF or CRLF (and a NUL ending it as well); -1 if none.
    /// </summary>
    public static int LenientEndOfData(ReadOnlySpan<byte> wire)
    {
        for (int i = 0; i < wire.Length - 1; i++)
        {
            bool lineStart = i == 0 || wire[i - 1] is (byte)'\r' or (byte)'\n';
            if (lineStart && wire[i] == (byte)'.' && wire[i + 1] is (byte)'\r' or (byte)'\n' or 0)
            {
                return i;
            }
        }

        return -1;
    }

    [Theory]
    [MemberData(nameof(EndOfDataLookalikes))]
    public async Task What_goes_out_in_data_ends_only_at_its_final_dot_in_every_reading(string lookalike)
    {
        byte[] message = SmugglingMessage(lookalike);
        foreach (int chunk in new[] { 1, 2, 3, message.Length })
        {
            byte[] wire = await DotStreamTests.StuffAsync(message, chunk);
            Assert.Equal(wire.Length - 3, LenientEndOfData(wire));
            AssertNoBareLf(wire);
        }
    }

    /// <summary>
    /// Through a CRLF reader (ours, as Postfix's), BDAT delivers the message with bare LFs made CRLF; DATA the same but
    /// for a dot after a bare CR, which comes out doubled: the stuffing a CR reader would undo sits mid-line for it.
    /// </summary>
    [Theory]
    [MemberData(nameof(EndOfDataLookalikes))]
    public async Task Data_and_bdat_deliver_one_message_with_the_smuggled_lines_inside(string lookalike)
    {
        byte[] message = SmugglingMessage(lookalike);
        byte[] overData = await RelayAsync(message, chunking: false);
        byte[] overBdat = await RelayAsync(message, chunking: true);
        Assert.Equal(DotStreamTests.Normalise(message, stuffedAfterCr: false), overBdat);
        Assert.Equal(DotStreamTests.Normalise(message), overData);
        Assert.Contains("MAIL FROM:<evil@example.org>", Encoding.ASCII.GetString(overData), StringComparison.Ordinal);
    }

    private static async Task<byte[]> RelayAsync(byte[] message, bool chunking)
    {
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend, o => o.Chunking = chunking);
        await using SmtpRelayClient client = await SmtpRelayClient.ConnectAsync(host.EndPoint, new SmtpRelayClientOptions(), Ct);
        await client.HelloAsync(Ct);
        Assert.Equal(chunking, client.Capabilities.Chunking);
        await client.MailAsync(new MailFromCommand("a@example.org", "", []), null, Ct);
        await client.RcptAsync(new RcptToCommand("b@example.test", "", []), Ct);
        Assert.Equal(250, (await client.DataAsync(new MemoryStream(message), Ct))[0].Code);
        return (await backend.Messages.Reader.ReadAsync(Ct)).Data;
    }

    private static void AssertNoBareLf(byte[] bytes)
    {
        for (int i = 0; i < bytes.Length; i++)
        {
            Assert.True(bytes[i] != (byte)'\n' || (i > 0 && bytes[i - 1] == (byte)'\r'), $"bare LF at {i}");
        }
    }
}
