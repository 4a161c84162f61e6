#!/usr/bin/env python3
"""A WordPress export (WXR 1.2) of a given size, for the import benchmark: posts with
implied paragraphs, links, a caption shortcode and categories; comments (threaded, some
pending), pingbacks; a page per 100 posts. Written as a stream: any size, little memory.

    python3 bench/wxr_gen.py --posts 10000 --comments 5 --out /tmp/export.xml
"""
import argparse
import random

WORDS = ("culture learning school music drama dance art children teachers museum choir "
         "festival campaign arts council libraries theatre poetry young people creative "
         "partnership evidence policy funding local national event link-up").split()


def sentence(r, n):
    w = [r.choice(WORDS) for _ in range(n)]
    return " ".join(w).capitalize() + "."


def para(r):
    return " ".join(sentence(r, r.randint(6, 16)) for _ in range(r.randint(2, 5)))


def cdata(s):
    return "<![CDATA[" + s.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--posts", type=int, default=10000)
    ap.add_argument("--comments", type=int, default=5)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    r = random.Random(42)
    with open(a.out, "w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="UTF-8" ?>\n<rss version="2.0" '
                'xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/" '
                'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
                'xmlns:dc="http://purl.org/dc/elements/1.1/" '
                'xmlns:wp="http://wordpress.org/export/1.2/">\n<channel>\n'
                '<title>Benchmark site</title><link>http://bench.example.org</link>\n'
                '<wp:wxr_version>1.2</wp:wxr_version>\n'
                '<wp:base_site_url>http://bench.example.org</wp:base_site_url>\n'
                '<wp:base_blog_url>http://bench.example.org</wp:base_blog_url>\n')
        cid = 0
        for i in range(1, a.posts + 1):
            y, m, d = 2005 + i % 20, 1 + i % 12, 1 + i % 28
            slug = f"post-{i}-{r.choice(WORDS)}"
            ptype = "page" if i % 100 == 0 else "post"
            body = "\n\n".join(para(r) for _ in range(r.randint(3, 7)))
            body += f'\n\nMore at <a href="http://elsewhere.example/{i}">elsewhere</a>.\nSee you there.'
            f.write("<item>\n")
            f.write(f"<title>{cdata(sentence(r, 6))}</title>\n")
            f.write(f"<link>http://bench.example.org/{y}/{m:02}/{d:02}/{slug}/</link>\n")
            f.write(f"<content:encoded>{cdata(body)}</content:encoded>\n")
            f.write(f"<excerpt:encoded>{cdata(sentence(r, 10))}</excerpt:encoded>\n")
            f.write(f"<wp:post_id>{i}</wp:post_id>\n")
            f.write(f"<wp:post_date>{y}-{m:02}-{d:02} 10:00:00</wp:post_date>\n")
            f.write(f"<wp:post_date_gmt>{y}-{m:02}-{d:02} 09:00:00</wp:post_date_gmt>\n")
            f.write(f"<wp:post_name>{slug}</wp:post_name>\n<wp:status>publish</wp:status>\n")
            f.write(f"<wp:post_parent>0</wp:post_parent>\n<wp:post_type>{ptype}</wp:post_type>\n")
            f.write("<wp:post_password></wp:post_password>\n")
            f.write(f'<category domain="category" nicename="c{i % 7}">{cdata("Category " + str(i % 7))}</category>\n')
            first = None
            for k in range(a.comments if ptype == "post" else 0):
                cid += 1
                kind = "pingback" if k == 4 else "comment"
                parent = first if (k == 1 and first) else 0
                first = first or cid
                approved = "0" if k == 3 else "1"
                f.write("<wp:comment>\n")
                f.write(f"<wp:comment_id>{cid}</wp:comment_id>\n")
                f.write(f"<wp:comment_author>{cdata('Reader ' + str(cid % 997))}</wp:comment_author>\n")
                f.write(f"<wp:comment_author_email>reader{cid % 997}@example.net</wp:comment_author_email>\n")
                f.write(f"<wp:comment_author_url>http://reader{cid % 97}.example.net/</wp:comment_author_url>\n")
                f.write(f"<wp:comment_author_IP>192.0.2.{cid % 250}</wp:comment_author_IP>\n")
                f.write(f"<wp:comment_date_gmt>{y}-{m:02}-{d:02} 12:{k:02}:00</wp:comment_date_gmt>\n")
                f.write(f"<wp:comment_content>{cdata(para(r))}</wp:comment_content>\n")
                f.write(f"<wp:comment_approved>{approved}</wp:comment_approved>\n")
                f.write(f"<wp:comment_type>{kind}</wp:comment_type>\n")
                f.write(f"<wp:comment_parent>{parent}</wp:comment_parent>\n")
                f.write("</wp:comment>\n")
            f.write("</item>\n")
        f.write("</channel>\n</rss>\n")


if __name__ == "__main__":
    main()
