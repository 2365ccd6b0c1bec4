<?xml version="1.0" encoding="UTF-8"?>
<!--
  paperfeed: a feed opened in a browser, shown as a page. Feed readers never load this file;
  it only turns the RSS 2.0 or Atom document into a page saying what the feed is, its URL to
  paste into a feed reader, and its items. Styles and script come from /static/ (the CSP
  allows nothing inline). RSS titles are HTML-escaped text (see paperfeed/feeds/rss_atom.py),
  so they are output unescaped once, as a reader would show them; Atom titles are plain text.
-->
<xsl:stylesheet version="1.0"
  xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
  xmlns:atom="http://www.w3.org/2005/Atom"
  xmlns:dc="http://purl.org/dc/elements/1.1/"
  exclude-result-prefixes="atom dc">
<xsl:output method="html" encoding="UTF-8" indent="no" doctype-system="about:legacy-compat"/>

<xsl:template match="/">
  <xsl:variable name="rss" select="boolean(rss)"/>
  <xsl:variable name="self" select="rss/channel/atom:link[@rel='self']/@href | atom:feed/atom:link[@rel='self']/@href"/>
  <xsl:variable name="site" select="rss/channel/link | atom:feed/atom:link[@rel='alternate']/@href"/>
  <html lang="en">
  <head>
    <meta charset="utf-8"/>
    <meta name="viewport" content="width=device-width, initial-scale=1"/>
    <meta name="referrer" content="no-referrer"/>
    <title>
      <xsl:choose>
        <xsl:when test="$rss"><xsl:value-of select="rss/channel/title" disable-output-escaping="yes"/></xsl:when>
        <xsl:otherwise><xsl:value-of select="atom:feed/atom:title"/></xsl:otherwise>
      </xsl:choose>
      <xsl:text> (feed)</xsl:text>
    </title>
    <link rel="icon" href="data:,"/>
    <link rel="stylesheet" href="/static/site.css"/>
  </head>
  <body class="feed-page">
    <header class="site">
      <a class="brand" href="/">
        <!-- The list's name: Atom names it as the author; RSS titles start with it. -->
        <xsl:choose>
          <xsl:when test="atom:feed/atom:author/atom:name"><xsl:value-of select="atom:feed/atom:author/atom:name"/></xsl:when>
          <xsl:when test="contains(rss/channel/title, ': ')"><xsl:value-of select="substring-before(rss/channel/title, ': ')" disable-output-escaping="yes"/></xsl:when>
          <xsl:otherwise>Home</xsl:otherwise>
        </xsl:choose>
      </a>
      <nav><a href="/archive">Archive</a><a href="{$site}">Site</a></nav>
    </header>
    <main>
      <p class="section">Feed<xsl:if test="$rss"> · RSS 2.0</xsl:if><xsl:if test="not($rss)"> · Atom</xsl:if></p>
      <h1 id="feed-title">
        <xsl:choose>
          <xsl:when test="$rss"><xsl:value-of select="rss/channel/title" disable-output-escaping="yes"/></xsl:when>
          <xsl:otherwise><xsl:value-of select="atom:feed/atom:title"/></xsl:otherwise>
        </xsl:choose>
      </h1>
      <p class="lede"><xsl:value-of select="rss/channel/description | atom:feed/atom:subtitle"/></p>
      <section class="card feed-subscribe" aria-labelledby="subscribe-title">
        <h2 id="subscribe-title">Follow this in a feed reader</h2>
        <p>This page is a feed: a feed reader (such as NetNewsWire, Feedly, Thunderbird or newsboat) checks it and shows new papers as they come. Copy its address into your reader to subscribe.</p>
        <label for="feed-url">Feed address</label>
        <div class="inline">
          <input id="feed-url" type="text" readonly="readonly" value="{$self}" spellcheck="false" autocomplete="off"/>
          <button type="button" id="copy-feed-url" class="secondary" hidden="hidden">Copy</button>
        </div>
        <p class="hint" id="copy-status" role="status" aria-live="polite"></p>
        <xsl:if test="contains($self, '/feeds/u/')">
          <p class="hint">This address is your personal feed. Anyone who has it can read your picks, so keep it to yourself.</p>
        </xsl:if>
      </section>
      <h2>
        <xsl:value-of select="count(rss/channel/item | atom:feed/atom:entry)"/>
        <xsl:text> papers in the feed now</xsl:text>
      </h2>
      <xsl:if test="not(rss/channel/item | atom:feed/atom:entry)">
        <p class="empty">No papers in this feed yet. Your reader will show them when they come.</p>
      </xsl:if>
      <ol class="feed-items">
        <xsl:apply-templates select="rss/channel/item | atom:feed/atom:entry"/>
      </ol>
    </main>
    <footer class="site">
      <p>You are seeing this feed in a browser, styled for reading. Feed readers get the same document and ignore the styling.</p>
    </footer>
    <script src="/static/feed.js"></script>
  </body>
  </html>
</xsl:template>

<xsl:template match="item">
  <li class="paper feed-item">
    <h3><a href="{link}"><xsl:value-of select="title" disable-output-escaping="yes"/></a></h3>
    <xsl:if test="dc:creator">
      <p class="authors"><xsl:value-of select="dc:creator"/></p>
    </xsl:if>
    <p class="hint"><xsl:value-of select="substring(pubDate, 1, 16)"/></p>
  </li>
</xsl:template>

<xsl:template match="atom:entry">
  <li class="paper feed-item">
    <h3><a href="{atom:link[@rel='alternate']/@href | atom:link[not(@rel)]/@href}"><xsl:value-of select="atom:title"/></a></h3>
    <xsl:if test="atom:author">
      <p class="authors">
        <xsl:for-each select="atom:author/atom:name">
          <xsl:if test="position() &gt; 1">, </xsl:if>
          <xsl:value-of select="."/>
        </xsl:for-each>
      </p>
    </xsl:if>
    <p class="hint"><xsl:value-of select="substring(atom:published, 1, 10)"/></p>
  </li>
</xsl:template>
</xsl:stylesheet>
