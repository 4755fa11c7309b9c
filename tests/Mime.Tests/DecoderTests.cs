using System.Text;

namespace Detach.Mime.Tests;

public class DecoderTests
{
    private static byte[] DecodeInPieces(IContentDecoderFactory factory, byte[] input, int pieceSize)
    {
        var decoder = factory.Create();
        var output = new List<byte>();
        for (int i = 0; i < input.Length; i += pieceSize)
        {
            var chunk = input.AsSpan(i, Math.Min(pieceSize, input.Length - i));
            var buffer = new byte[decoder.MaxOutputLength(chunk.Length)];
            int n = decoder.Decode(chunk, buffer);
            output.AddRange(buffer.AsSpan(0, n));
        }
        var tail = new byte[decoder.MaxOutputLength(0) + 8];
        output.AddRange(tail.AsSpan(0, decoder.Flush(tail)));
        return [.. output];
    }

    internal interface IContentDecoderFactory
    {
        IContentDecoder Create();
    }

    private sealed class Factory(Func<IContentDecoder> create) : IContentDecoderFactory
    {
        public IContentDecoder Create() => create();
    }

    [Fact]
    public void Base64_skips_whitespace_and_garbage_and_keeps_state_across_calls()
    {
        byte[] input = Encoding.ASCII.GetBytes("QU\r\nJD\t RE!!VG\r\n*R0hJ\r\nSks=\r\ntrailing junk after padding");
        var factory = new Factory(() => new Base64Decoder());
        for (int piece = 1; piece <= input.Length; piece++)
        {
            Assert.Equal("ABCDEFGHIJK", Encoding.ASCII.GetString(DecodeInPieces(factory, input, piece)));
        }
    }

    [Fact]
    public void Base64_of_random_data_round_trips_at_every_split()
    {
        byte[] data = MessageBuilder.RandomBytes(3000, 7);
        byte[] encoded = Encoding.ASCII.GetBytes(MessageBuilder.Base64Lines(data));
        var factory = new Factory(() => new Base64Decoder());
        foreach (int piece in new[] { 1, 2, 3, 5, 7, 13, 76, 77, 78, 1000, 100_000 })
        {
            Assert.Equal(data, DecodeInPieces(factory, encoded, piece));
        }
    }

    /// <summary>
    /// The decoder guesses where the next line break is from the line before; lines that do not keep to one length
    /// or one line ending must decode as well as those that do, wherever the chunks are cut.
    /// </summary>
    [Theory]
    [InlineData("\r\n", new[] { 76 })]
    [InlineData("\n", new[] { 76 })]
    [InlineData("\r\n", new[] { 76, 76, 72, 76, 76, 4, 76 })]
    [InlineData("\n", new[] { 64, 76, 76, 76, 60 })]
    [InlineData("\r\n\r\n", new[] { 76 })]
    [InlineData("\r", new[] { 76, 76, 75, 77, 76 })]
    public void Base64_lines_of_changing_lengths_and_endings_round_trip_at_every_split(string eol, int[] lengths)
    {
        byte[] data = MessageBuilder.RandomBytes(6000, 11);
        string b64 = Convert.ToBase64String(data);
        var text = new StringBuilder();
        for (int at = 0, line = 0; at < b64.Length; line++)
        {
            int length = Math.Min(lengths[line % lengths.Length], b64.Length - at);
            text.Append(b64, at, length).Append(line % 5 == 3 ? "\r\n" : eol);
            at += length;
        }

        byte[] encoded = Encoding.ASCII.GetBytes(text.ToString());
        var factory = new Factory(() => new Base64Decoder());
        foreach (int piece in new[] { 1, 3, 77, 78, 79, 155, 4096, 65536 })
        {
            Assert.Equal(data, DecodeInPieces(factory, encoded, piece));
        }
    }

    [Fact]
    public void Quoted_printable_soft_breaks_escapes_and_broken_sequences()
    {
        byte[] input = Encoding.ASCII.GetBytes("caf=C3=A9 soft=\r\nbreak, lf soft=\nbreak, lower =c3=a9, bad =ZZ, tail=");
        var factory = new Factory(() => new QuotedPrintableDecoder());
        string expected = "caf\u00E9 softbreak, lf softbreak, lower \u00E9, bad =ZZ, tail";
        for (int piece = 1; piece <= input.Length; piece++)
        {
            Assert.Equal(expected, Encoding.UTF8.GetString(DecodeInPieces(factory, input, piece)));
        }
    }

    [Fact]
    public void Quoted_printable_encoder_round_trips_through_the_decoder()
    {
        byte[] text = Encoding.UTF8.GetBytes("line with trailing space \r\n= equals\ttab\t\r\nbare\rcr\n" + new string('x', 300) + " \u00E9\u00E8");
        byte[] encoded = QuotedPrintableBodyEncoder.EncodeAll(text, "\r\n");
        foreach (var line in Encoding.ASCII.GetString(encoded).Split('\n').Select(l => l.TrimEnd('\r')))
        {
            Assert.True(line.Length <= 76, line);
            Assert.False(line.EndsWith(' ') || line.EndsWith('\t'), "trailing blank must be encoded");
        }
        Assert.True(encoded.All(b => b < 128));
        var factory = new Factory(() => new QuotedPrintableDecoder());
        Assert.Equal(text, DecodeInPieces(factory, encoded, 5));
    }

    [Fact]
    public void Uudecode_skips_to_begin_and_stops_at_end()
    {
        byte[] data = Encoding.ASCII.GetBytes("Hello, uuencoded world! 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFG");
        string uu = "preamble text\r\nbegin 644 hello.txt\r\n" + UUEncode(data) + "`\r\nend\r\nafter the end\r\n";
        var factory = new Factory(() => new UUDecoder());
        byte[] input = Encoding.ASCII.GetBytes(uu);
        for (int piece = 1; piece < 40; piece++)
        {
            Assert.Equal(data, DecodeInPieces(factory, input, piece));
        }
    }

    internal static string UUEncode(byte[] data)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < data.Length; i += 45)
        {
            int n = Math.Min(45, data.Length - i);
            sb.Append((char)(32 + n));
            for (int j = 0; j < n; j += 3)
            {
                int b0 = data[i + j], b1 = j + 1 < n ? data[i + j + 1] : 0, b2 = j + 2 < n ? data[i + j + 2] : 0;
                sb.Append(Enc(b0 >> 2)).Append(Enc(((b0 << 4) | (b1 >> 4)) & 63)).Append(Enc(((b1 << 2) | (b2 >> 6)) & 63)).Append(Enc(b2 & 63));
            }
            sb.Append("\r\n");
        }
        return sb.ToString();

        static char Enc(int v) => v == 0 ? '`' : (char)(32 + v);
    }
}
