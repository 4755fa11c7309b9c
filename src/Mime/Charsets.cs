using System.Text;

namespace Detach.Mime;

/// <summary>Charset names from mail headers to .NET encodings, legacy code pages included.</summary>
internal static class Charsets
{
    public static readonly Encoding Latin1 = Encoding.Latin1;

    static Charsets() => RegisterCodePages();

    /// <summary>Makes the legacy code pages (windows-125x, koi8-r, gb2312, ks_c_5601-1987...) known to Encoding.GetEncoding.</summary>
    public static bool RegisterCodePages()
    {
        Encoding.RegisterProvider(CodePagesEncodingProvider.Instance);
        return true;
    }

    /// <summary>The encoding for a MIME charset name, or null when unknown.</summary>
    public static Encoding? Find(string? name)
    {
        if (string.IsNullOrWhiteSpace(name))
        {
            return null;
        }

        name = name.Trim().Trim('"');
        int star = name.IndexOf('*', StringComparison.Ordinal); // RFC 2231 language suffix: utf-8*en
        if (star >= 0)
        {
            name = name[..star];
        }

        switch (name.ToUpperInvariant())
        {
            case "UTF8": case "UTF-8": return Encoding.UTF8;
            case "US-ASCII": case "ASCII": case "ANSI_X3.4-1968": return Encoding.ASCII;
            case "LATIN1": case "ISO-8859-1": case "ISO8859-1": return Latin1;
            case "KS_C_5601-1987": name = "ks_c_5601-1987"; break;
            case "X-UNKNOWN": case "UNKNOWN-8BIT": case "X-USER-DEFINED": return null;
        }
        try
        {
            return Encoding.GetEncoding(name);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            // NotSupportedException: a charset .NET knows but refuses (UTF-7). Found by fuzzing: it escaped the rewriter.
            return null;
        }
    }

    /// <summary>Raw header bytes as text: UTF-8 when valid, otherwise Latin-1 so no byte is lost.</summary>
    public static string DecodeHeaderBytes(ReadOnlySpan<byte> bytes)
    {
        if (!System.Text.Unicode.Utf8.IsValid(bytes))
        {
            return Latin1.GetString(bytes);
        }

        return Encoding.UTF8.GetString(bytes);
    }
}
