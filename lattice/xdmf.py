"""XDMF sidecars: a small XML file next to an HDF5 snapshot so ParaView and VisIt can open it.

The lattice is written as an XDMF CoRectMesh (VTK image data) with n + 1 nodes per axis and the
fields as cell-centred scalars, each pointing at ``<file>.h5:/fields/<name>``. XDMF lists axes
slowest first, like NumPy, so Dimensions, Origin and Spacing follow the array's axis order (the
last axis becomes ParaView's X). A 1-D lattice of n cells is written as a 2DCoRectMesh of
(n + 1) x 2 nodes, i.e. n x 1 cells, one cell thick; its DataItems keep the dataset's true
shape (n), which holds the same n values in the same order, so both ParaView readers (Xdmf2 and
Xdmf3) read the whole dataset without reshaping.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET


def _numbers(values):
    return " ".join(repr(float(v)) for v in values)


def _data_item(parent, dims, text, fmt, precision=8, number_type="Float", **extra):
    item = ET.SubElement(parent, "DataItem", Dimensions=" ".join(map(str, dims)),
                         NumberType=number_type, Precision=str(precision), Format=fmt, **extra)
    item.text = text
    return item


def write_xdmf(path_h5, field_names, global_shape, dx, origin, time, precision=8) -> str:
    """Write ``path_h5`` with suffix .xmf, atomically (temporary name + os.replace).

    Args:
        path_h5: the snapshot; the sidecar refers to it by file name (same folder).
        field_names: datasets ``/fields/<name>``, each of shape ``global_shape``.
        global_shape: cells per axis (1 to 3 axes), slowest axis first.
        dx: cell size per axis (length units of the snapshot).
        origin: lower corner of the domain per axis (node 0), same units as dx.
        time: the grid's XDMF time (the snapshot's t in MeV^-1).
        precision: bytes per field value (8 for float64, 4 for float32).

    Returns:
        The path of the .xmf file.
    """
    shape, dx, origin = tuple(global_shape), tuple(dx), tuple(origin)
    if not 1 <= len(shape) <= 3 or len(dx) != len(shape) or len(origin) != len(shape):
        raise ValueError(f"global_shape={shape}, dx={dx}, origin={origin} must have 1 to 3 "
                         "matching axes")
    nodes = [n + 1 for n in shape]
    if len(shape) == 1:  # one cell thick 2-D mesh: (n + 1) x 2 nodes
        nodes, dx, origin = nodes + [2], dx + dx, origin + (0.0,)
    mesh, geometry = ("2DCoRectMesh", "ORIGIN_DXDY") if len(nodes) == 2 else ("3DCoRectMesh",
                                                                                 "ORIGIN_DXDYDZ")
    name_h5 = os.path.basename(os.fspath(path_h5))
    root = ET.Element("Xdmf", Version="2.0")
    grid = ET.SubElement(ET.SubElement(root, "Domain"), "Grid",
                         Name=os.path.splitext(name_h5)[0], GridType="Uniform")
    ET.SubElement(grid, "Time", Value=repr(float(time)))
    ET.SubElement(grid, "Topology", TopologyType=mesh, Dimensions=" ".join(map(str, nodes)))
    geo = ET.SubElement(grid, "Geometry", GeometryType=geometry)
    _data_item(geo, [len(nodes)], _numbers(origin), "XML", Name="Origin")
    _data_item(geo, [len(nodes)], _numbers(dx), "XML", Name="Spacing")
    for field in field_names:
        attribute = ET.SubElement(grid, "Attribute", Name=field, AttributeType="Scalar",
                                  Center="Cell")
        _data_item(attribute, shape, f"{name_h5}:/fields/{field}", "HDF", precision)
    ET.indent(root)
    path_xmf = os.path.splitext(os.fspath(path_h5))[0] + ".xmf"
    tmp = f"{path_xmf}.tmp{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as out:
            out.write('<?xml version="1.0" encoding="utf-8"?>\n')
            out.write('<!DOCTYPE Xdmf SYSTEM "Xdmf.dtd" []>\n')
            out.write(ET.tostring(root, encoding="unicode") + "\n")
        os.replace(tmp, path_xmf)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path_xmf
