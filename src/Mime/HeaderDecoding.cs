using System.Text;
using MimeKit;
using MimeKit.Utils;

namespace Detach.Mime;

/// <summary>
/// Content-Type and Content-Disposition values, parameters and encoded words, decoded by MimeKit: RFC 2047 in its
/// broken forms (words split inside a character, words inside quoted strings, unquoted words), RFC 2231
/// continuations, charsets and languages, legacy code pages, raw 8-bit values (UTF-8, else Latin-1). On top of
/// MimeKit, names carrying encoded words inside an RFC 2231 value or its continuations are decoded, as mail
/// clients show them. The structure of the message stays ours (<see cref="MimeStreamReader"/>).
/// </summary>
internal static class HeaderDecoding
{
    // MimeKit maps charset names to code pages (koi8-r, windows-1252, ks_c_5601-1987...) when it is first used, and only
    // those the runtime knows then: the provider must be registered before the options below touch MimeKit.
    private static readonly bool CodePagesRegistered = Charsets.RegisterCodePages();

    /// <summary>Loose (the default): never throw, accept what senders write. Our own instance, so nothing global changes.</summary>
    private static readonly ParserOptions Options = new()
    {
        ParameterComplianceMode = RfcComplianceMode.Loose,
        Rfc2047ComplianceMode = RfcComplianceMode.Loose,
    };

    /// <summary>The media type in lower case ("text/plain"), or null when the value is not a usable type; and the parameters either way.</summary>
    public static (string? MimeType, HeaderParameters Parameters) ContentType(ReadOnlySpan<byte> value)
    {
        var bytes = value.ToArray();
        if (MimeKit.ContentType.TryParse(Options, bytes, out var type))
        {
            return ($"{type.MediaType}/{type.MediaSubtype}".ToLowerInvariant(), Parameters(type.Parameters));
        }

        // Not a value MimeKit accepts whole. "application/pdf name=x.pdf" (no semicolon) still names a type, as MimeKit's
        // own parser reads it; "text" or "; name=x" do not (text/plain then). The parameters (a charset) may still count.
        return (LeadingMediaType(bytes), ParametersAfterLeadingValue(bytes));
    }

    /// <summary>"type/subtype" at the start of the value when it is made of RFC 2045 token characters, lower case; else null.</summary>
    private static string? LeadingMediaType(ReadOnlySpan<byte> value)
    {
        value = value.TrimStart(" \t\r\n"u8);
        int end = 0;
        while (end < value.Length && value[end] is > 0x20 and < 0x7F && "()<>@,;:\\\"[]?=".IndexOf((char)value[end], StringComparison.Ordinal) < 0)
        {
            end++;
        }

        var token = value[..end];
        int slash = token.IndexOf((byte)'/');
        if (slash <= 0 || slash == token.Length - 1 || token[(slash + 1)..].Contains((byte)'/'))
        {
            return null;
        }

        return Encoding.ASCII.GetString(token).ToLowerInvariant();
    }

    /// <summary>The disposition in lower case ("attachment"), or null when there is none; and the parameters.</summary>
    public static (string? Disposition, HeaderParameters Parameters) ContentDisposition(ReadOnlySpan<byte> value)
    {
        var bytes = value.ToArray();
        if (MimeKit.ContentDisposition.TryParse(Options, bytes, out var disposition))
        {
            return (disposition.Disposition.ToLowerInvariant(), Parameters(disposition.Parameters));
        }

        return (null, ParametersAfterLeadingValue(bytes));
    }

    /// <summary>Unstructured text (a Subject) with its RFC 2047 words decoded.</summary>
    public static string DecodeText(string text) =>
        text.Contains("=?", StringComparison.Ordinal) ? Rfc2047.DecodeText(Options, Encoding.UTF8.GetBytes(text)) : text;

    /// <summary>The parameters of "garbage; a=b; c*0*=...": parsed as if the leading value were a disposition.</summary>
    private static HeaderParameters ParametersAfterLeadingValue(byte[] bytes)
    {
        int semicolon = IndexOfUnquoted(bytes, (byte)';');
        if (semicolon < 0)
        {
            return HeaderParameters.Empty;
        }

        byte[] stand = [.. "x"u8, .. bytes.AsSpan(semicolon)];
        return MimeKit.ContentDisposition.TryParse(Options, stand, out var parsed) ? Parameters(parsed.Parameters) : HeaderParameters.Empty;
    }

    private static HeaderParameters Parameters(ParameterList list)
    {
        if (list.Count == 0)
        {
            return HeaderParameters.Empty;
        }

        var values = new Dictionary<string, string>(list.Count, StringComparer.OrdinalIgnoreCase);
        foreach (var parameter in list)
        {
            // A name given twice (filename= and filename*=) means what MimeKit's lookup says: the RFC 2231 value.
            if (values.ContainsKey(parameter.Name) || !list.TryGetValue(parameter.Name, out string? value))
            {
                continue;
            }

            if (parameter.Name.Equals("name", StringComparison.OrdinalIgnoreCase) || parameter.Name.Equals("filename", StringComparison.OrdinalIgnoreCase))
            {
                // "=?UTF-8?B?...?=" inside filename*= or filename*0=: MimeKit leaves the words as text, clients decode them.
                value = DecodeText(value);
            }
            values[parameter.Name] = value ?? "";
        }
        return new HeaderParameters(values);
    }

    private static int IndexOfUnquoted(byte[] value, byte c)
    {
        bool quoted = false;
        for (int i = 0; i < value.Length; i++)
        {
            if (value[i] == '"')
            {
                quoted = !quoted;
            }
            else if (value[i] == '\\' && quoted)
            {
                i++;
            }
            else if (value[i] == c && !quoted)
            {
                return i;
            }
        }
        return -1;
    }
}
