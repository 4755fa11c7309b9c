using System.Buffers;
using System.Buffers.Text;

namespace Detach.Mime;

/// <summary>Incremental decoder of a transfer encoding: keeps its state between calls.</summary>
internal interface IContentDecoder
{
    /// <summary>Largest output <see cref="Decode"/> can produce for <paramref name="inputLength"/> bytes.</summary>
    int MaxOutputLength(int inputLength);

    /// <summary>Most input whose output surely fits <paramref name="outputLength"/> bytes (0 when none does).</summary>
    int MaxInputLength(int outputLength);

    int Decode(ReadOnlySpan<byte> input, Span<byte> output);

    /// <summary>Emits whatever the end of input completes (a partial quantum, a dangling escape).</summary>
    int Flush(Span<byte> output);
}

/// <summary>
/// Lenient base64: skips line breaks, blanks and garbage as MimeKit's decoder does, keeps up to three
/// characters of a quantum between calls, and decodes each chunk with one call to the vectorised
/// <see cref="Base64.DecodeFromUtf8"/> (well-formed input only loses its line breaks first).
/// Padding ends the data, as in Python's binascii: whatever follows a padded quantum ("xx==", "xxx=") is ignored, which keeps trailing junk (a mangled delimiter, a signature
/// line) out of the file.
/// </summary>
internal sealed class Base64Decoder : IContentDecoder
{
    private static readonly SearchValues<byte> Alphabet = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"u8);

    // The input minus line breaks (or, on the careful path, minus everything outside the alphabet) is gathered
    // here and decoded in one vectorised call; up to three characters of an unfinished quantum wait in _saved.
    private byte[] _gathered = [];
    private readonly byte[] _saved = new byte[4];
    private int _savedCount;
    private int _padding;
    private bool _finished;

    public int MaxOutputLength(int inputLength) => (inputLength + 3) / 4 * 3 + 3;

    public int MaxInputLength(int outputLength) => Math.Max(0, (outputLength - 3) / 3 * 4 - 3);

    public int Decode(ReadOnlySpan<byte> input, Span<byte> output)
    {
        if (_finished)
        {
            return 0;
        }

        if (_gathered.Length < input.Length + 4)
        {
            _gathered = new byte[Math.Max(input.Length + 4, 1024)];
        }

        return TryDecodeClean(input, output, out int written) ? written : DecodeCarefully(input, output);
    }

    /// <summary>Fast path for well-formed base64: drop CR and LF, decode; any other surprise returns false.</summary>
    private bool TryDecodeClean(ReadOnlySpan<byte> input, Span<byte> output, out int written)
    {
        written = 0;
        var gathered = _gathered.AsSpan();
        _saved.AsSpan(0, _savedCount).CopyTo(gathered);
        int count = _savedCount;
        while (input.Length > 0)
        {
            int br = input.IndexOfAny((byte)'\r', (byte)'\n');
            if (br < 0)
            {
                br = input.Length;
            }

            input[..br].CopyTo(gathered[count..]);
            count += br;
            input = input[br..];
            int breakLength = 0;
            while (breakLength < input.Length && input[breakLength] is (byte)'\r' or (byte)'\n')
            {
                breakLength++;
            }

            // Encoders write lines of one length (76): look for the next break where it should be instead of searching
            // (a search per line was a fifth of the decoder's time). A line that breaks earlier is copied with its break
            // inside, which the decoder below refuses, sending the chunk to the careful path: the guess is never wrong.
            if (br > 0 && breakLength is 1 or 2)
            {
                byte last = input[breakLength - 1];
                input = input[breakLength..];
                int stride = br + breakLength;
                while (input.Length >= stride && input[stride - 1] == last && (breakLength == 1 || input[br] == '\r'))
                {
                    input[..br].CopyTo(gathered[count..]);
                    count += br;
                    input = input[stride..];
                }
            }
            else
            {
                input = input[breakLength..];
            }
        }
        int whole = count & ~3;
        if (gathered[whole..count].IndexOfAnyExcept(Alphabet) >= 0)
        {
            return false; // only clean characters may wait
        }

        var status = Base64.DecodeFromUtf8(gathered[..whole], output, out int consumed, out written, isFinalBlock: true);
        if (status != OperationStatus.Done || consumed != whole)
        {
            return false;
        }

        if (whole > 0 && gathered[whole - 1] == '=')
        {
            _finished = true; // padding ends the data, as in Python
            _savedCount = 0;
            return true;
        }
        _savedCount = count - whole;
        gathered.Slice(whole, _savedCount).CopyTo(_saved);
        return true;
    }

    /// <summary>Keeps only alphabet characters; padding ends the data once its quantum is complete.</summary>
    private int DecodeCarefully(ReadOnlySpan<byte> input, Span<byte> output)
    {
        var gathered = _gathered.AsSpan();
        _saved.AsSpan(0, _savedCount).CopyTo(gathered);
        int count = _savedCount;
        int i = 0;
        bool padded = false;
        while (i < input.Length)
        {
            var rest = input[i..];
            int run = rest.IndexOfAnyExcept(Alphabet);
            if (run < 0)
            {
                run = rest.Length;
            }

            rest[..run].CopyTo(gathered[count..]);
            count += run;
            i += run;
            if (run > 0)
            {
                _padding = 0;
            }

            if (i >= input.Length)
            {
                break;
            }

            if (input[i] == '=' && count % 4 >= 2 && (count % 4) + ++_padding >= 4)
            {
                padded = true; // "xx==" or "xxx=": the quantum is complete
                break;
            }
            i++;
        }
        int whole = count & ~3;
        Base64.DecodeFromUtf8(gathered[..whole], output, out _, out int written, isFinalBlock: true);
        _savedCount = count - whole;
        gathered.Slice(whole, _savedCount).CopyTo(_saved);
        if (padded)
        {
            written += Flush(output[written..]);
            _finished = true;
        }
        return written;
    }

    public int Flush(Span<byte> output)
    {
        int n = 0;
        _padding = 0;
        if (_savedCount >= 2 && !_finished)
        {
            // A partial quantum: decode it as if padded ("xx" is one byte, "xxx" two).
            Span<byte> quantum = stackalloc byte[4];
            _saved.AsSpan(0, _savedCount).CopyTo(quantum);
            quantum[_savedCount..].Fill((byte)'A');
            Span<byte> three = stackalloc byte[3];
            Base64.DecodeFromUtf8(quantum, three, out _, out _, isFinalBlock: true);
            n = _savedCount - 1;
            three[..n].CopyTo(output);
        }
        _savedCount = 0;
        return n;
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

    public int MaxInputLength(int outputLength) => Math.Max(0, outputLength - 3);

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
                    if (input[i++] == '\n')
                        {
                            _state = State.Normal;
                        }

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

    public int MaxOutputLength(int inputLength) => inputLength + MaxLine;

    public int MaxInputLength(int outputLength) => Math.Max(0, outputLength - MaxLine);

    public int Decode(ReadOnlySpan<byte> input, Span<byte> output)
    {
        int o = 0;
        foreach (byte b in input)
        {
            if (_done)
            {
                break;
            }

            if (b == '\n')
            {
                if (!_lineTooLong)
                {
                    o += DecodeLine(_line.AsSpan(0, _lineLength), output[o..]);
                }

                _lineLength = 0;
                _lineTooLong = false;
                continue;
            }
            if (_lineLength == MaxLine)
            {
                _lineTooLong = true;
            }
            else
            {
                _line[_lineLength++] = b;
            }
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
            if (line.StartsWith("begin "u8))
            {
                _inBody = true;
            }

            return 0;
        }
        if (line.Trim(" \t\r\f"u8).SequenceEqual("end"u8))
        {
            _done = true;
            return 0;
        }
        if (line.Length == 0)
        {
            return 0;
        }

        int count = (line[0] - 32) & 63;
        int o = 0;
        int i = 1;
        while (o < count)
        {
            int c0 = Value(line, i), c1 = Value(line, i + 1), c2 = Value(line, i + 2), c3 = Value(line, i + 3);
            i += 4;
            output[o++] = (byte)((c0 << 2) | (c1 >> 4));
            if (o < count)
            {
                output[o++] = (byte)((c1 << 4) | (c2 >> 2));
            }

            if (o < count)
            {
                output[o++] = (byte)((c2 << 6) | c3);
            }
        }
        return o;
    }

    private static int Value(ReadOnlySpan<byte> line, int index) => index < line.Length ? (line[index] - 32) & 63 : 0;
}
