"""The worked solution: the first update step written out as the tutorials write it.

`explain` orders the quantities as a tutorial does and renders Markdown or one offline HTML
page; `notation` turns a quantity's rule into TeX and HTML maths.

Imports: the model only.
"""
