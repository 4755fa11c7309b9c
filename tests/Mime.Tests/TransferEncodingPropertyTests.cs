using CsCheck;

namespace Detach.Mime.Tests;

/// <summary>
/// The body encoders (used when the notice is put into a text body) against the decoders (used on every detached
/// part), over generated data and any cut of writes and reads (CsCheck).
/// </summary>
public class TransferEncodingPropertyTests
{
    /// <summary>Binary data, and text made of what quoted-printable cares about: spaces and tabs before line ends, '=', dots, long lines.</summary>
    private static readonly Gen<byte[]> Data = Gen.OneOf(
        Gen.Byte.Array[0, 5000],
        Gen.OneOf("a"u8.ToArray(), " "u8.ToArray(), "\t"u8.ToArray(), "="u8.ToArray(), "."u8.ToArray(), "\r\n"u8.ToArray(), "é"u8.ToArray(), "From "u8.ToArray(), new byte[90])
            .Array[0, 300].Select(parts => parts.SelectMany(p => p).ToArray()));

    [Theory]
    [InlineData(TransferEncoding.Base64)]
    [InlineData(TransferEncoding.QuotedPrintable)]
    public void Decoding_what_was_encoded_gives_the_data_back(TransferEncoding encoding)
    {
        Gen.Select(Data, Gen.Int[1, 6000], Gen.Bool).Sample((data, writeSize, finalLineEnding) =>
        {
            var encoded = Encode(encoding, data, writeSize, finalLineEnding);
            // The parser's body range ends after the line break before the next delimiter, and the rewriter asks for a
            // final line ending when the original body had one: it must not add a line break to the text.
            // (An empty base64 body writes nothing at all; the rewriter never encodes one, the notice is in it.)
            Assert.True(!finalLineEnding || encoded.AsSpan().EndsWith("\n"u8) || (data.Length == 0 && encoding == TransferEncoding.Base64), "no final line ending");
            Assert.Equal(data, Decode(encoding, encoded));
        }, iter: 300, threads: 1);
    }

    [Theory]
    [InlineData(TransferEncoding.Base64)]
    [InlineData(TransferEncoding.QuotedPrintable)]
    public void Encoded_bodies_are_seven_bit_lines_of_at_most_76_characters_whatever_the_writes(TransferEncoding encoding)
    {
        Gen.Select(Data, Gen.Int[1, 6000]).Sample((data, writeSize) =>
        {
            var encoded = Encode(encoding, data, writeSize, finalLineEnding: true);
            Assert.All(encoded, b => Assert.True(b is < 128 and not 0, $"octet {b} in an encoded body"));
            // Quoted-printable keeps the data's own line ends (CRLF or bare LF) as hard breaks; a bare CR is escaped.
            var lines = System.Text.Encoding.ASCII.GetString(encoded).Split('\n').Select(l => l.EndsWith('\r') ? l[..^1] : l);
            Assert.All(lines, l => Assert.True(l.Length <= 76 && !l.Contains('\r', StringComparison.Ordinal), $"line of {l.Length}: {l}"));
            Assert.Equal(Encode(encoding, data, int.MaxValue, finalLineEnding: true), encoded);
        }, iter: 300, threads: 1);
    }

    /// <summary>Found by the property above: a blank before a bare CR was written after it ("\t\r" came back "\r\t").</summary>
    [Theory]
    [InlineData("a\t\rb")]
    [InlineData("a \r")]
    [InlineData("a \t\r\r\n")]
    public void A_blank_before_a_bare_cr_keeps_its_place(string text)
    {
        var data = System.Text.Encoding.ASCII.GetBytes(text);
        Assert.Equal(data, Decode(TransferEncoding.QuotedPrintable, Encode(TransferEncoding.QuotedPrintable, data, 1, finalLineEnding: false)));
    }

    [Fact]
    public void Base64_decodes_the_same_in_any_read_size()
    {
        Gen.Select(Data, Gen.Int[1, 100]).Sample((data, readSize) =>
        {
            var encoded = Encode(TransferEncoding.Base64, data, 4096, finalLineEnding: true);
            using var decoding = TransferDecoder.Open(new TricklingStream(new MemoryStream(encoded), readSize), 0, encoded.Length, TransferEncoding.Base64);
            var output = new MemoryStream();
            var buffer = new byte[readSize];
            int n;
            while ((n = decoding.Read(buffer, 0, readSize)) > 0)
            {
                output.Write(buffer, 0, n);
            }

            Assert.Equal(data, output.ToArray());
        }, iter: 200, threads: 1);
    }

    /// <summary>
    /// Over a spool held in memory the decoder takes its input where it lies, piece by piece, and decodes into the
    /// caller's buffer when it can: the same bytes must come out whatever the pieces, the reads and the range's place.
    /// </summary>
    [Theory]
    [InlineData(TransferEncoding.Base64)]
    [InlineData(TransferEncoding.QuotedPrintable)]
    public void Decoding_in_place_gives_what_decoding_a_copy_gives_at_any_piece_and_read_size(TransferEncoding encoding)
    {
        Gen.Select(Data, Gen.Int[1, 20000], Gen.Int[1, 70000], Gen.Bool).Sample((data, pieceSize, readSize, asynchronous) =>
        {
            var encoded = Encode(encoding, data, 4096, finalLineEnding: true);
            var spool = new PiecewiseSpool([.. "junk before\r\n"u8, .. encoded, .. "\r\n--b--\r\n"u8], pieceSize);
            using var decoding = TransferDecoder.Open(spool, "junk before\r\n"u8.Length, encoded.Length, encoding);
            var output = new MemoryStream();
            var buffer = new byte[readSize];
            int n;
            while ((n = asynchronous ? decoding.ReadAsync(buffer).AsTask().GetAwaiter().GetResult() : decoding.Read(buffer)) > 0)
            {
                output.Write(buffer, 0, n);
            }

            Assert.Equal(data, output.ToArray());
            Assert.True(spool.Peeked, "the input was not taken in place");
        }, iter: 300, threads: 1);
    }

    /// <summary>A spool in memory in pieces of one size, as the SMTP front's spool holds a message in 16 KiB pieces.</summary>
    private sealed class PiecewiseSpool(byte[] bytes, int pieceSize) : IPositionalRead
    {
        public bool Peeked { get; private set; }

        public int ReadAt(long offset, Span<byte> buffer) => throw new InvalidOperationException("read instead of peeked");

        public ValueTask<int> ReadAtAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("read instead of peeked");

        public bool TryPeek(long offset, out ReadOnlyMemory<byte> memory)
        {
            Peeked = true;
            var end = Math.Min(bytes.Length, (offset / pieceSize + 1) * pieceSize);
            memory = bytes.AsMemory((int)Math.Min(offset, bytes.Length), (int)Math.Max(0, end - offset));
            return true;
        }
    }

    private static byte[] Encode(TransferEncoding encoding, byte[] data, int writeSize, bool finalLineEnding)
    {
        using var output = new MemoryStream();
        var encoder = BodyEncoder.Create(encoding, output, "\r\n");
        for (var i = 0; i < data.Length; i += writeSize)
        {
            encoder.WriteAsync(data.AsMemory(i, Math.Min(writeSize, data.Length - i)), CancellationToken.None).AsTask().GetAwaiter().GetResult();
        }

        encoder.CompleteAsync(finalLineEnding, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        return output.ToArray();
    }

    private static byte[] Decode(TransferEncoding encoding, byte[] encoded)
    {
        using var decoding = TransferDecoder.Open(new MemoryStream(encoded), 0, encoded.Length, encoding);
        var output = new MemoryStream();
        decoding.CopyTo(output);
        return output.ToArray();
    }
}
