using System.Buffers;
using System.Buffers.Text;

namespace Detach.Mime;

/// <summary>Incremental decoder of a transfer encoding: keeps its state between calls.</summary>
internal interface IContentDecoder
{
    /// <summary>Largest output <see cref="Decode"/> can produce for <paramref name="inputLength"/> bytes.</summary>
    int MaxOutputLength(int inputLength);

    int Decode(ReadOnlySpan<byte> input, Span<byte> output);

    /// <summary>Emits whatever the end of input completes (a partial quantum, a dangling escape).</summary>
    int Flush(Span<byte> output);
}

/// <summary>
/// Lenient base64: skips line breaks, blanks and garbage as MimeKit's decoder does, keeps up to three
/// characters of a quantum between calls, and decodes whole runs of alphabet characters with the vectorised
/// <see cref="Base64.DecodeFromUtf8"/>. Padding ends the data, as in Python's binascii: whatever follows a
/// padded quantum ("xx==", "xxx=") is ignored, which keeps trailing junk (a mangled delimiter, a signature
/// line) out of the file.
/// </summary>
internal sealed class Base64Decoder : IContentDecoder
{
    private static readonly SearchValues<byte> Alphabet = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"u8);
    private static readonly sbyte[] Values = BuildValues();

    private uint _saved;
    private int _savedCount;
    private int _padding;
    private bool _finished;

    public int MaxOutputLength(int inputLength) => inputLength / 4 * 3 + 6;

    public int Decode(ReadOnlySpan<byte> input, Span<byte> output)
    {
        int o = 0;
        int i = 0;
        while (i < input.Length && !_finished)
        {
            if (_savedCount == 0)
            {
                var rest = input[i..];
                int run = rest.IndexOfAnyExcept(Alphabet);
                if (run < 0) run = rest.Length;
                int whole = run & ~3;
                if (whole > 0)
                {
                    Base64.DecodeFromUtf8(rest[..whole], output[o..], out int consumed, out int written, isFinalBlock: true);
                    o += written;
                    i += consumed;
                    if (consumed == whole) continue;
                }
            }
            byte c = input[i++];
            int v = Values[c];
            if (v >= 0)
            {
                _saved = (_saved << 6) | (uint)v;
                if (++_savedCount == 4)
                {
                    output[o++] = (byte)(_saved >> 16);
                    output[o++] = (byte)(_saved >> 8);
                    output[o++] = (byte)_saved;
                    _saved = 0;
                    _savedCount = 0;
                }
            }
            else if (c == '=' && _savedCount >= 2)
            {
                // "xx==" or "xxx=": the quantum is complete once its padding is.
                if (_savedCount + ++_padding >= 4)
                {
                    o += Flush(output[o..]);
                    _finished = true;
                }
            }
        }
        return o;
    }

    public int Flush(Span<byte> output)
    {
        int n = 0;
        _padding = 0;
        if (_savedCount == 2)
        {
            output[0] = (byte)(_saved >> 4);
            n = 1;
        }
        else if (_savedCount == 3)
        {
            output[0] = (byte)(_saved >> 10);
            output[1] = (byte)(_saved >> 2);
            n = 2;
        }
        _saved = 0;
        _savedCount = 0;
        return n;
    }

    private static sbyte[] BuildValues()
    {
        var values = new sbyte[256];
        Array.Fill(values, (sbyte)-1);
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (int i = 0; i < alphabet.Length; i++) values[alphabet[i]] = (sbyte)i;
        return values;
    }
}

/// <summary>
/// Quoted-printable as Python's binascii.a2b_qp reads it: "=XX" (either case), "=" before a line break is a
/// soft break, anything else after "=" is kept literally. State survives between calls.
/// </summary>
internal sealed class QuotedPrintableDecoder : IContentDecoder
{
    private enum State { Normal, Equals, Hex1, SkipToLineFeed }

    private State _state;
    private byte _hex1;

    public int MaxOutputLength(int inputLength) => inputLength + 3;

    public int Decode(ReadOnlySpan<byte> input, Span<byte> output)
    {
        int o = 0;
        int i = 0;
        while (i < input.Length)
        {
            switch (_state)
            {
                case State.Normal:
                {
                    var rest = input[i..];
                    int eq = rest.IndexOf((byte)'=');
                    int copy = eq < 0 ? rest.Length : eq;
                    rest[..copy].CopyTo(output[o..]);
                    o += copy;
                    i += copy;
                    if (eq >= 0)
                    {
                        i++;
                        _state = State.Equals;
                    }
                    break;
                }
                case State.Equals:
                {
                    byte c = input[i];
                    if (c == '\n')
                    {
                        i++;
                        _state = State.Normal;
                    }
                    else if (c == '\r')
                    {
                        i++;
                        _state = State.SkipToLineFeed;
                    }
                    else if (c == '=')
                    {
                        output[o++] = (byte)'=';
                        i++;
                        _state = State.Normal;
                    }
                    else if (IsHex(c))
                    {
                        _hex1 = c;
                        i++;
                        _state = State.Hex1;
                    }
                    else
                    {
                        output[o++] = (byte)'=';
                        _state = State.Normal;
                    }
                    break;
                }
                case State.Hex1:
                {
                    byte c = input[i];
                    if (IsHex(c))
                    {
                        output[o++] = (byte)((HexValue(_hex1) << 4) | HexValue(c));
                        i++;
                    }
                    else
                    {
                        output[o++] = (byte)'=';
                        output[o++] = _hex1;
                    }
                    _state = State.Normal;
                    break;
                }
                case State.SkipToLineFeed:
                {
                    if (input[i++] == '\n') _state = State.Normal;
                    break;
                }
            }
        }
        return o;
    }

    public int Flush(Span<byte> output)
    {
        int n = 0;
        if (_state == State.Hex1)
        {
            output[0] = (byte)'=';
            output[1] = _hex1;
            n = 2;
        }
        _state = State.Normal;
        return n;
    }

    private static bool IsHex(byte c) => c is (>= (byte)'0' and <= (byte)'9') or (>= (byte)'A' and <= (byte)'F') or (>= (byte)'a' and <= (byte)'f');

    private static int HexValue(byte c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/// <summary>
/// uuencode: skips to a "begin NNN name" line, decodes each line by its length character until "end".
/// Lines longer than 1 KiB are not uuencode and are ignored.
/// </summary>
internal sealed class UUDecoder : IContentDecoder
{
    private const int MaxLine = 1024;
    private readonly byte[] _line = new byte[MaxLine];
    private int _lineLength;
    private bool _lineTooLong;
    private bool _inBody;
    private bool _done;

    /// <summary>Set when the decoder starts inside the data (a block whose begin line was already consumed).</summary>
    public bool StartInBody
    {
        init => _inBody = value;
    }

    public int MaxOutputLength(int inputLength) => inputLength + MaxLine;

    public int Decode(ReadOnlySpan<byte> input, Span<byte> output)
    {
        int o = 0;
        foreach (byte b in input)
        {
            if (_done) break;
            if (b == '\n')
            {
                if (!_lineTooLong) o += DecodeLine(_line.AsSpan(0, _lineLength), output[o..]);
                _lineLength = 0;
                _lineTooLong = false;
                continue;
            }
            if (_lineLength == MaxLine) _lineTooLong = true;
            else _line[_lineLength++] = b;
        }
        return o;
    }

    public int Flush(Span<byte> output)
    {
        int n = _lineLength > 0 && !_lineTooLong && !_done ? DecodeLine(_line.AsSpan(0, _lineLength), output) : 0;
        _lineLength = 0;
        return n;
    }

    private int DecodeLine(ReadOnlySpan<byte> line, Span<byte> output)
    {
        line = line.TrimEnd("\r"u8);
        if (!_inBody)
        {
            if (line.StartsWith("begin "u8)) _inBody = true;
            return 0;
        }
        if (line.Trim(" \t\r\f"u8).SequenceEqual("end"u8))
        {
            _done = true;
            return 0;
        }
        if (line.Length == 0) return 0;
        int count = (line[0] - 32) & 63;
        int o = 0;
        int i = 1;
        while (o < count)
        {
            int c0 = Value(line, i), c1 = Value(line, i + 1), c2 = Value(line, i + 2), c3 = Value(line, i + 3);
            i += 4;
            output[o++] = (byte)((c0 << 2) | (c1 >> 4));
            if (o < count) output[o++] = (byte)((c1 << 4) | (c2 >> 2));
            if (o < count) output[o++] = (byte)((c2 << 6) | c3);
        }
        return o;
    }

    private static int Value(ReadOnlySpan<byte> line, int index) => index < line.Length ? (line[index] - 32) & 63 : 0;
}
