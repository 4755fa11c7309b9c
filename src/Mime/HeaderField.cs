using System.Text;

namespace Detach.Mime;

/// <summary>One header field exactly as it appeared: raw bytes (folding and line ending included) and its offset.</summary>
public sealed class HeaderField
{
    private readonly byte[] _raw;
    private string? _value;

    public HeaderField(string name, byte[] raw, long offset)
    {
        Name = name;
        _raw = raw;
        Offset = offset;
    }

    /// <summary>The field name as written (compare with OrdinalIgnoreCase).</summary>
    public string Name { get; }

    /// <summary>The field's bytes from the name to the final line ending, byte for byte.</summary>
    public ReadOnlyMemory<byte> Raw => _raw;

    /// <summary>Offset of the field in the message.</summary>
    public long Offset { get; }

    /// <summary>The bytes after the colon, folding and line ending included.</summary>
    internal ReadOnlySpan<byte> RawValue
    {
        get
        {
            int colon = _raw.AsSpan().IndexOf((byte)':');
            return colon < 0 ? _raw : _raw.AsSpan(colon + 1);
        }
    }

    /// <summary>The unfolded value after the colon, trimmed; 8-bit bytes read as UTF-8 or else Latin-1.</summary>
    public string Value => _value ??= Unfold();

    private string Unfold()
    {
        var raw = _raw.AsSpan();
        int colon = raw.IndexOf((byte)':');
        var rest = colon < 0 ? raw : raw[(colon + 1)..];
        var builder = new List<byte>(rest.Length);
        foreach (byte b in rest)
        {
            if (b is (byte)'\r' or (byte)'\n')
            {
                continue;
            }

            builder.Add(b);
        }
        return Charsets.DecodeHeaderBytes(builder.ToArray()).Trim(' ', '\t');
    }

    public override string ToString() => Encoding.Latin1.GetString(_raw).TrimEnd('\r', '\n');
}
