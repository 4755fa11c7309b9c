namespace Detach.Smtp;

/// <summary>
/// The grammar of command lines, apart from the session's state machine (as go-smtp's parse.go): verb and arguments,
/// the HELO argument, and MAIL/RCPT paths with their "KEYWORD[=value]" parameters (RFC 5321 4.1.2, lenient where
/// Postfix is). Every check returns the reply to give, or null when the text is well formed. Control characters are
/// refused in everything that is relayed or logged: a CR inside a path would be a line end to some next hop.
/// </summary>
internal static class SmtpCommandSyntax
{
    /// <summary>The upper-cased verb and the arguments (spaces trimmed) of a command line.</summary>
    public static (string Verb, string Arguments) SplitCommand(string line)
    {
        int space = line.IndexOf(' ', StringComparison.Ordinal);
        string verb = (space < 0 ? line : line[..space]).ToUpperInvariant();
        return (verb, space < 0 ? "" : line[(space + 1)..].Trim(' '));
    }

    /// <summary>HELO/EHLO/LHLO take one word of printable characters (a domain or an address literal).</summary>
    public static SmtpReply? CheckHelloArgument(string verb, string argument) =>
        argument.Length == 0 || argument.Contains(' ', StringComparison.Ordinal) || HasControl(argument)
            ? new SmtpReply(501, "5.5.4", $"Syntax: {verb} hostname")
            : null;

    /// <summary>MAIL arguments, "FROM:&lt;path&gt; parameters"; an unusable path is 501 5.1.7 (bad sender address syntax).</summary>
    public static SmtpReply? TryParseMail(string arguments, out MailFromCommand mail)
    {
        SmtpReply? error = TryParsePathAndParameters(arguments, "FROM:", "5.1.7", out string path, out string raw, out List<SmtpParameter> parameters);
        mail = new MailFromCommand(path, raw, parameters);
        return error;
    }

    /// <summary>RCPT arguments, "TO:&lt;path&gt; parameters"; an unusable or empty path is 501 5.1.3 (bad destination address syntax).</summary>
    public static SmtpReply? TryParseRcpt(string arguments, out RcptToCommand rcpt)
    {
        SmtpReply? error = TryParsePathAndParameters(arguments, "TO:", "5.1.3", out string path, out string raw, out List<SmtpParameter> parameters);
        rcpt = new RcptToCommand(path, raw, parameters);
        return error ?? (path.Length == 0 ? AddressError("5.1.3", "empty") : null);
    }

    /// <summary>Splits "FROM:&lt;path&gt; params" (prefix "FROM:" or "TO:").</summary>
    /// <param name="addressCode">The enhanced code for a path that cannot be used: 5.1.7 (sender) or 5.1.3 (recipient).</param>
    internal static SmtpReply? TryParsePathAndParameters(string arguments, string prefix, string addressCode, out string path, out string rawParameters, out List<SmtpParameter> parameters)
    {
        path = "";
        rawParameters = "";
        parameters = [];
        if (!arguments.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            return new SmtpReply(501, "5.5.4", $"Syntax: {(prefix == "FROM:" ? "MAIL FROM:<address>" : "RCPT TO:<address>")}");
        }

        ReadOnlySpan<char> rest = arguments.AsSpan(prefix.Length).TrimStart(' ');
        int end;
        if (rest.Length > 0 && rest[0] == '<')
        {
            end = FindClosingBracket(rest);
            if (end < 0)
            {
                return AddressError(addressCode, "missing '>'");
            }

            path = rest[1..end].ToString();
            end++;
        }
        else
        {
            // A bare address without brackets, as old clients send; it ends at the first space.
            end = rest.IndexOf(' ');
            if (end < 0)
            {
                end = rest.Length;
            }

            path = rest[..end].ToString();
            if (path.Length == 0)
            {
                return AddressError(addressCode, "empty");
            }

            // Relayed, it gets brackets: an angle bracket or quote in it would make the next hop read another command
            // (found by fuzzing: "MAIL FROM:a@b> x" went on as "MAIL FROM:<a@b>> x").
            if (path.AsSpan().IndexOfAny('<', '>', '"') >= 0)
            {
                return AddressError(addressCode, "brackets or quotes need <...>");
            }
        }

        if (HasControl(path))
        {
            return AddressError(addressCode, "control character");
        }

        if (path.Contains(' ', StringComparison.Ordinal) && !path.Contains('"', StringComparison.Ordinal))
        {
            return AddressError(addressCode, "space");
        }

        ReadOnlySpan<char> tail = rest[end..];
        if (tail.Length > 0 && tail[0] != ' ')
        {
            return new SmtpReply(501, "5.5.4", "Syntax error after address");
        }

        rawParameters = tail.Trim(' ').ToString();
        return TryParseParameters(rawParameters, parameters);
    }

    /// <summary>Characters no argument may carry: C0 controls (CR, LF, NUL, TAB…) and DEL.</summary>
    public static bool HasControl(ReadOnlySpan<char> text) => text.IndexOfAnyInRange('\0', '\x1f') >= 0 || text.Contains('\x7f');

    private static SmtpReply AddressError(string code, string why) =>
        new(501, code, $"Bad {(code == "5.1.7" ? "sender" : "recipient")} address syntax: {why}");

    private static int FindClosingBracket(ReadOnlySpan<char> s)
    {
        bool quoted = false;
        for (int i = 1; i < s.Length; i++)
        {
            char c = s[i];
            if (quoted && c == '\\')
            {
                i++;
            }
            else if (c == '"')
            {
                quoted = !quoted;
            }
            else if (c == '>' && !quoted)
            {
                return i;
            }
        }

        return -1;
    }

    private static SmtpReply? TryParseParameters(string raw, List<SmtpParameter> parameters)
    {
        foreach (string token in raw.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = token.IndexOf('=', StringComparison.Ordinal);
            string keyword = eq < 0 ? token : token[..eq];
            string? value = eq < 0 ? null : token[(eq + 1)..];
            if (!IsKeyword(keyword))
            {
                return new SmtpReply(501, "5.5.4", "Bad parameter keyword");
            }

            if (value is not null && (value.Length == 0 || !IsValue(value)))
            {
                return new SmtpReply(501, "5.5.4", $"Bad parameter value for {keyword}");
            }

            parameters.Add(new SmtpParameter(keyword, value));
        }

        return null;
    }

    private static bool IsKeyword(string keyword)
    {
        if (keyword.Length == 0 || !char.IsAsciiLetterOrDigit(keyword[0]))
        {
            return false;
        }

        foreach (char c in keyword)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '-')
            {
                return false;
            }
        }

        return true;
    }

    // esmtp-value: %d33-60 / %d62-126, plus UTF-8 under SMTPUTF8 (RFC 6531).
    private static bool IsValue(string value)
    {
        foreach (char c in value)
        {
            if (c is < (char)33 or '=' or (char)127)
            {
                return false;
            }
        }

        return true;
    }
}
